package config
import ("testing";"time";"os")
func FuzzSlowProbe(f *testing.F) {
	for _, p := range []string{"corpus/tb_gateway.json", "yaml/tb_gateway.yaml"} {
		data, _ := os.ReadFile("testdata/" + p)
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a, *a]\nb: <<: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := time.Now()
		tree, err := parseYAML("f", data)
		d1 := time.Since(st)
		if err == nil { decodeMain("f", tree) }
		if time.Since(st) > 500*time.Millisecond {
			os.WriteFile("/tmp/slow_input.bin", data, 0o644)
			t.Fatalf("slow: parse %v total %v len %d", d1, time.Since(st), len(data))
		}
	})
}
