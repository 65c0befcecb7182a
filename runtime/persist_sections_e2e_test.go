package runtime_test

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/gwtest"
)

// TestRemoteGeneralSaved: general_configuration applied from ThingsBoard is written into the main file's
// thingsboard section (the token as it runs, never redacted; no ts, no remote-only statistics commands), the
// previous file kept as a dated backup; a second gateway started on the folder runs with it.
func TestRemoteGeneralSaved(t *testing.T) {
	e := newE2E(t)
	gw := e.start(setup{connectors: []connSpec{newProbe(t, "Probe").conn()}, tb: map[string]any{"remoteConfiguration": true}})
	mainFile := filepath.Join(e.dir, config.MainFileJSON)
	old := readFile(t, mainFile)
	ts := time.Now().UnixMilli() + 60000

	general := clientObject(e, "general_configuration")
	general["minPackSendDelayMS"] = 60
	general["ts"] = ts
	if err := e.emu.SetSharedAttributes(gwName, map[string]any{"general_configuration": general}); err != nil {
		t.Fatal(err)
	}
	if st := saveStatus(e, "general_configuration"); st["saved"] != true || !reflect.DeepEqual(st["files"], []any{config.MainFileJSON}) {
		t.Fatalf("save status %v, want the main file saved", st)
	}
	if b := backupOf(t, mainFile); !bytes.Equal(b, old) {
		t.Errorf("backup holds\n%s\nwant the previous main file", b)
	}
	tb, _ := fileObject(t, readFile(t, mainFile))["thingsboard"].(map[string]any)
	sec, _ := tb["security"].(map[string]any)
	stats, _ := tb["statistics"].(map[string]any)
	if tb["minPackSendDelayMS"] != float64(60) || sec["accessToken"] != gwtest.GatewayToken || tb["ts"] != nil || stats["commands"] != nil {
		t.Errorf("thingsboard section saved as %v", tb)
	}

	gw.stop()
	second := e.Start(gwtest.StartOptions{})
	if c := second.Config; c.Thingsboard.MinPackSendDelayMS != 60 {
		t.Errorf("the gateway started again runs minPackSendDelayMS %d, want 60", c.Thingsboard.MinPackSendDelayMS)
	}
}
