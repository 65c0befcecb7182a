package opcua

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// gopcua v0.8.0's server (simserver) does not stop a subscription's goroutine when the session closes; it
	// ends only when the subscription's lifetime runs out. That goroutine belongs to the in-process test server,
	// not to the connector.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/gopcua/opcua/server.(*Subscription).run"))
}
