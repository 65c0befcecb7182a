package bluezsim

import (
	"context"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func TestStartBusServesConnections(t *testing.T) {
	addr := StartBus(t)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var names []string
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("bus lists no names")
	}
}
