package connectortest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// fakeSubject drives a fakeConnector with the given bug.
func fakeSubject(bug string) Subject {
	dev := newFakeDevice()
	return Subject{
		New: func(t *testing.T) tbgateway.Connector { return &fakeConnector{dev: dev, bug: bug} },
		Produce: func(ctx context.Context, t *testing.T) {
			if err := dev.produce(ctx); err != nil {
				t.Fatal(err)
			}
		},
		Acked:   func() int { return int(dev.acked.Load()) },
		Timeout: 10 * time.Second,
	}
}

func TestContractPassesACorrectConnector(t *testing.T) {
	Contract(t, fakeSubject(""))
}

// TestWrongFake runs the contract on a broken fake chosen by CONNECTORTEST_BUG; it is run as a child process by
// TestContractCatchesBrokenConnectors, and skipped otherwise.
func TestWrongFake(t *testing.T) {
	bug := os.Getenv("CONNECTORTEST_BUG")
	if bug == "" {
		t.Skip("run by TestContractCatchesBrokenConnectors")
	}
	s := fakeSubject(bug)
	s.Timeout = 3 * time.Second // most breaches show as a wait reaching this bound
	Contract(t, s)
}

func TestContractCatchesBrokenConnectors(t *testing.T) {
	cases := map[string]string{ // bug -> the check that must fail
		"ackEarly":      "AckAfterSend",
		"ackOnFailure":  "AckAfterSend",
		"dropOnFull":    "RetryAfterStorageFull",
		"retryChanged":  "RetryAfterStorageFull",
		"ctxErr":        "RunReturnsNilOnCancel",
		"leak":          "NoGoroutineLeak",
		"panicDownlink": "DownlinkBeforeRunAndAfterStop",
		"nilDownlink":   "DownlinkBeforeRunAndAfterStop",
		"hangDownlink":  "DownlinkBeforeRunAndAfterStop",
	}
	for bug, check := range cases {
		t.Run(bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestWrongFake$", "-test.v", "-test.timeout=120s")
			cmd.Env = append(os.Environ(), "CONNECTORTEST_BUG="+bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the contract passed a connector with bug %q:\n%s", bug, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestWrongFake/"+check) {
				t.Errorf("bug %q: check %s did not fail:\n%s", bug, check, out)
			}
			if strings.Contains(string(out), "panic:") && bug != "panicDownlink" {
				t.Errorf("bug %q: the suite itself panicked:\n%s", bug, out)
			}
		})
	}
}
