package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadMain checks that decoding arbitrary bytes as a main file, in JSON and in YAML, never panics, and that
// a decoded file either validates or yields an error (never both a Config and an error).
func FuzzLoadMain(f *testing.F) {
	for _, p := range []string{"corpus/tb_gateway.json", "yaml/tb_gateway.yaml", "all_connectors/tb_gateway.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"thingsboard": {"host": "h", "port": "abc", "security": {"type": 5}}, "connectors": [1, {}]}`))
	f.Add([]byte("a: &a [*a, *a]\nb: <<: *a\n"))
	f.Add([]byte(`{"thingsboard": null, "storage": {"size_limit": 1e400}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, yaml := range []bool{false, true} {
			var tree any
			var err error
			if yaml {
				tree, err = parseYAML("f.yaml", data)
			} else {
				tree, err = parseJSON("f.json", data)
			}
			if err != nil {
				continue
			}
			cfg, _, err := decodeMain("f", tree)
			if (cfg == nil) == (err == nil) {
				t.Fatalf("decodeMain returned config %v with error %v", cfg != nil, err)
			}
			if err != nil {
				continue
			}
			if _, err := applyEnv(cfg, func(string) string { return "1:1" }); err != nil {
				continue
			}
			cfg.finish()
			_ = cfg.Validate()
		}
	})
}
