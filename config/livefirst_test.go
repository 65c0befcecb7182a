package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestStorageLiveFirst(t *testing.T) {
	load := func(t *testing.T, storage string) (*Config, error) {
		t.Helper()
		dir := writeFiles(t, map[string]string{
			"tb_gateway.json": `{"thingsboard": {"host": "h"}, "storage": ` + storage + `, "connectors": []}`,
		})
		cfg, warns, err := Load(dir, nil)
		if len(warns) != 0 {
			t.Errorf("warnings: %v", warns)
		}
		return cfg, err
	}
	t.Run("default off", func(t *testing.T) {
		cfg, err := load(t, `{"type": "sqlite"}`)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Storage.LiveFirst {
			t.Error("liveFirst is on by default")
		}
	})
	t.Run("on", func(t *testing.T) {
		cfg, err := load(t, `{"type": "memory", "liveFirst": true}`)
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.Storage.LiveFirst {
			t.Error("liveFirst: true not applied")
		}
	})
	t.Run("wrong type", func(t *testing.T) {
		_, err := load(t, `{"liveFirst": "yes"}`)
		if err == nil || !strings.Contains(err.Error(), filepath.Join("tb_gateway.json")+": storage.liveFirst: expected") {
			t.Errorf("error %v, want one naming storage.liveFirst", err)
		}
	})
}
