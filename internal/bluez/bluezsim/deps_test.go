package bluezsim

import (
	"os/exec"
	"strings"
	"testing"
)

// The stand-in must never ship in the gateway binary.
func TestGatewayBinaryDoesNotImportSim(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/tbgateway/tbgateway/cmd/tbgateway").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list printed too few packages to be the gateway's dependencies:\n%s", out)
	}
	for _, p := range deps {
		if p == "github.com/tbgateway/tbgateway/internal/bluez/bluezsim" {
			t.Fatal("cmd/tbgateway depends on internal/bluez/bluezsim")
		}
	}
}
