package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

func openTable(t *testing.T, path string) *DeviceTable {
	t.Helper()
	tab, err := OpenDeviceTable(path)
	if err != nil {
		t.Fatalf("OpenDeviceTable: %v", err)
	}
	return tab
}

func mustChange(t *testing.T, what string, changed bool, err error, want bool) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if changed != want {
		t.Fatalf("%s: changed/known = %v, want %v", what, changed, want)
	}
}

func TestDeviceTableRegisterAndPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "connected_devices.json")
	tab := openTable(t, path)
	c, err := tab.Register("Thermo 1", "thermostat", "sim", "simulator")
	mustChange(t, "new device", c, err, true)
	c, err = tab.Register("Thermo 1", "thermostat", "sim", "simulator")
	mustChange(t, "same again", c, err, false)
	if tab.saves != 1 {
		t.Fatalf("%d saves, want 1 (no write when nothing changed)", tab.saves)
	}
	c, err = tab.Register("Thermo 1", "thermostat2", "sim", "simulator")
	mustChange(t, "type change", c, err, true)
	c, err = tab.Register("Meter", "default", "mb", "modbus")
	mustChange(t, "second device", c, err, true)

	var file map[string]map[string]any
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatalf("file is not JSON: %v\n%s", err, b)
	}
	want := map[string]map[string]any{
		"Thermo 1": {"connectorName": "sim", "deviceType": "thermostat2"},
		"Meter":    {"connectorName": "mb", "deviceType": "default"},
	}
	if !reflect.DeepEqual(file, want) {
		t.Fatalf("file = %v, want %v", file, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}

	again := openTable(t, path)
	got, ok := again.Owner("Thermo 1")
	if !ok || got != (Device{Name: "Thermo 1", Type: "thermostat2", ConnectorName: "sim"}) {
		t.Fatalf("after reopen Owner = %+v, %v", got, ok)
	}
	// The connector type is not persisted; registering again fills it in without a write.
	c, err = again.Register("Thermo 1", "thermostat2", "sim", "simulator")
	mustChange(t, "re-register after restart", c, err, false)
	if d, _ := again.Owner("Thermo 1"); d.ConnectorType != "simulator" {
		t.Fatalf("connector type = %q", d.ConnectorType)
	}
	want2 := []Device{{Name: "Meter", Type: "default", ConnectorName: "mb"}}
	if l := again.ByConnector("mb"); !reflect.DeepEqual(l, want2) {
		t.Fatalf("ByConnector = %+v", l)
	}
	if l := again.List(); len(l) != 2 || l[0].Name != "Meter" || l[1].Name != "Thermo 1" {
		t.Fatalf("List = %+v", l)
	}
}

func TestDeviceTableLoadsPythonFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "connected_devices.json")
	py := `{"Temp Sensor": {"connectorName": "Modbus", "connectorId": "4f1c", "deviceType": "default", "renaming": null},
	        "Old": {"connectorName": "MQTT", "deviceType": "sensor", "renaming": "New", "disconnected": true}}`
	if err := os.WriteFile(path, []byte(py), 0o644); err != nil {
		t.Fatal(err)
	}
	tab := openTable(t, path)
	want := []Device{
		{Name: "Old", Type: "sensor", ConnectorName: "MQTT", Renamed: "New", Disconnected: true},
		{Name: "Temp Sensor", Type: "default", ConnectorName: "Modbus", ConnectorID: "4f1c"},
	}
	if l := tab.List(); !reflect.DeepEqual(l, want) {
		t.Fatalf("List = %+v\nwant %+v", l, want)
	}
	if n := tab.InboundName("New"); n != "Old" {
		t.Fatalf("InboundName(New) = %q", n)
	}
	if _, err := tab.SetDisconnected("Temp Sensor", true); err != nil {
		t.Fatal(err)
	}
	again := openTable(t, path)
	if d, _ := again.Owner("Temp Sensor"); d.ConnectorID != "4f1c" || !d.Disconnected {
		t.Fatalf("connectorId or disconnected lost: %+v", d)
	}
}

func TestDeviceTableBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "connected_devices.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDeviceTable(path); err == nil {
		t.Fatal("corrupt file accepted")
	}
	tab := openTable(t, filepath.Join(t.TempDir(), "missing.json"))
	if len(tab.List()) != 0 {
		t.Fatal("missing file gave devices")
	}
}

func TestDeviceTableRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "connected_devices.json")
	tab := openTable(t, path)
	if _, err := tab.Register("A", "default", "c", "mqtt"); err != nil {
		t.Fatal(err)
	}
	k, err := tab.Rename("A", "B")
	mustChange(t, "rename A->B", k, err, true)
	if tab.OutboundName("A") != "B" || tab.InboundName("B") != "A" {
		t.Fatalf("after A->B: out %q in %q", tab.OutboundName("A"), tab.InboundName("B"))
	}
	k, err = tab.Rename("B", "C") // ThingsBoard uses the name it knows
	mustChange(t, "rename B->C", k, err, true)
	if tab.OutboundName("A") != "C" || tab.InboundName("C") != "A" || tab.InboundName("B") != "B" {
		t.Fatalf("after B->C: out %q in(C) %q in(B) %q", tab.OutboundName("A"), tab.InboundName("C"), tab.InboundName("B"))
	}
	if d, ok := tab.Lookup("C"); !ok || d.Name != "A" || d.TBName() != "C" {
		t.Fatalf("Lookup(C) = %+v, %v", d, ok)
	}
	again := openTable(t, path)
	if again.OutboundName("A") != "C" || again.InboundName("C") != "A" {
		t.Fatal("rename not persisted")
	}
	k, err = again.Rename("C", "A")
	mustChange(t, "rename back", k, err, true)
	if d, _ := again.Owner("A"); d.Renamed != "" || again.InboundName("C") != "C" {
		t.Fatalf("rename back left %+v", d)
	}
	k, err = again.Rename("nobody", "x")
	mustChange(t, "unknown", k, err, false)
	if _, err := again.Rename("A", ""); err == nil {
		t.Fatal("empty new name accepted")
	}
}

func TestDeviceTableDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "connected_devices.json")
	tab := openTable(t, path)
	for _, n := range []string{"A", "B"} {
		if _, err := tab.Register(n, "default", "c", "mqtt"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tab.Rename("A", "A2"); err != nil {
		t.Fatal(err)
	}
	k, err := tab.Delete("A2")
	mustChange(t, "delete by ThingsBoard name", k, err, true)
	k, err = tab.Delete("B")
	mustChange(t, "delete by own name", k, err, true)
	k, err = tab.Delete("B")
	mustChange(t, "delete again", k, err, false)
	if tab.InboundName("A2") != "A2" {
		t.Fatal("rename of deleted device kept")
	}
	if l := openTable(t, path).List(); len(l) != 0 {
		t.Fatalf("deleted devices came back: %+v", l)
	}
}

func TestDeviceTableDisconnected(t *testing.T) {
	tab := openTable(t, "")
	if _, err := tab.Register("A", "default", "c", "mqtt"); err != nil {
		t.Fatal(err)
	}
	c, err := tab.SetDisconnected("A", true)
	mustChange(t, "disconnect", c, err, true)
	c, err = tab.SetDisconnected("A", true)
	mustChange(t, "disconnect again", c, err, false)
	c, err = tab.Register("A", "default", "c", "mqtt")
	mustChange(t, "register clears disconnected", c, err, true)
	c, err = tab.SetDisconnected("nobody", true)
	mustChange(t, "unknown", c, err, false)
}

func TestDeviceTableConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "connected_devices.json")
	tab := openTable(t, path)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 20 {
				name := fmt.Sprintf("d%d-%d", w, i)
				if _, err := tab.Register(name, "default", fmt.Sprintf("c%d", w), "mqtt"); err != nil {
					t.Error(err)
					return
				}
				_ = tab.OutboundName(name)
				_ = tab.List()
				if i%5 == 0 {
					if _, err := tab.Rename(name, name+"!"); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	again := openTable(t, path)
	if n := len(again.List()); n != 80 {
		t.Fatalf("%d devices persisted, want 80", n)
	}
	if got := len(again.ByConnector("c2")); got != 20 {
		t.Fatalf("ByConnector(c2) = %d devices", got)
	}
	if again.InboundName("d3-5!") != "d3-5" {
		t.Fatal("concurrent rename lost")
	}
}
