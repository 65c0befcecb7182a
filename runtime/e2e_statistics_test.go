package runtime_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/tbemu"
)

// Keys the Python gateway sends in its statistics telemetry (thingsboard_gateway/gateway/statistics/configs.py
// and the connectors' count_connector_message calls).
var (
	pyMachineKeys = []string{"totalCpuUsage", "diskUsage", "freeMemory", "freeDisk", "gwProcessCpuUsage", "gwMemory",
		"gwProcessMemoryFullInfo", "msgsSentToPlatform", "msgsReceivedFromPlatform"}
	pyServiceKeys   = []string{"storageMsgPulled", "storageMsgCount", "platformMsgPushed", "platformAttrProduced", "platformTsProduced"}
	pyConnectorKeys = []string{"connectorMsgsReceived", "connectorBytesReceived", "convertersMsgProcessed",
		"convertersAttrProduced", "convertersTsProduced", "convertersMsgDropped", "storageMsgPushed", "connectorsErrors",
		"convertersErrors"}
	humanBytes = regexp.MustCompile(`^[0-9]+\.[0-9][BKMGTPEZY]$`)
)

// jsonObject decodes a telemetry value that must be a JSON object.
func jsonObject(t *testing.T, what string, v any) map[string]any {
	t.Helper()
	raw, ok := v.(json.RawMessage)
	var m map[string]any
	if !ok || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("%s is %T %v, want a JSON object", what, v, v)
	}
	return m
}

// TestE2EStatisticsPythonShape: ThingsBoard receives the gateway device's attributes totalMemory, totalDisk
// (psutil's "23.5G" strings) and cpuCount, and per period the telemetry machineStats, serviceStats and
// connectorsStats with every key the Python gateway sends; the per-period counts add up to what the connector
// sent and to the RPC ThingsBoard sent.
func TestE2EStatisticsPythonShape(t *testing.T) {
	e := newE2E(t)
	a := newProbe(t, "alpha one")
	r := e.start(setup{
		connectors: []connSpec{a.conn()},
		tb:         map[string]any{"statistics": map[string]any{"enable": true, "statsSendPeriodInSeconds": 60}},
		opts:       runtime.Options{StatisticsPeriod: 20 * time.Millisecond},
	})
	_ = r
	a.send(t, e.ctx, dataRec("dev-a", 1), dataRec("dev-a", 2))
	rec := dataRec("dev-a", 3)
	rec.Attributes = map[string]any{"model": "X1"}
	a.send(t, e.ctx, rec)
	if got := gatewayRPC[string](e, "gateway_ping", nil).Resp; got != "pong" {
		t.Fatalf("gateway_ping: %q", got)
	}

	e.waitFor("the gateway's statistics attributes", func() bool {
		attrs := e.emu.Attributes(gwName, tbemu.ScopeClient)
		return attrs["totalMemory"] != nil && attrs["totalDisk"] != nil && attrs["cpuCount"] != nil
	})
	attrs := e.emu.Attributes(gwName, tbemu.ScopeClient)
	for _, k := range []string{"totalMemory", "totalDisk"} {
		if s, _ := attrs[k].(string); !humanBytes.MatchString(s) {
			t.Errorf("attribute %s = %v, want psutil's bytes2human text", k, attrs[k])
		}
	}
	if fmt.Sprint(attrs["cpuCount"]) != strconv.Itoa(goruntime.NumCPU()) {
		t.Errorf("cpuCount = %v, want %d", attrs["cpuCount"], goruntime.NumCPU())
	}

	sums := map[string]float64{}
	e.waitFor("statistics adding up to the records, values and the RPC", func() bool {
		clear(sums)
		for _, pt := range e.emu.Telemetry(gwName, "connectorsStats") {
			raw, _ := pt.Value.(json.RawMessage)
			var m map[string]map[string]any
			if json.Unmarshal(raw, &m) != nil {
				continue
			}
			for k, v := range m["alpha one"] {
				if f, ok := v.(float64); ok {
					sums["conn."+k] += f
				}
			}
		}
		for _, key := range []string{"machineStats", "serviceStats"} {
			for _, pt := range e.emu.Telemetry(gwName, key) {
				raw, _ := pt.Value.(json.RawMessage)
				var m map[string]any
				if json.Unmarshal(raw, &m) != nil {
					continue
				}
				for k, v := range m {
					if f, ok := v.(float64); ok {
						sums[k] += f
					}
				}
			}
		}
		return sums["conn.connectorMsgsReceived"] == 3 && sums["conn.storageMsgPushed"] >= 3 &&
			sums["conn.convertersTsProduced"] == 3 && sums["conn.convertersAttrProduced"] == 1 &&
			sums["conn.convertersMsgProcessed"] == 3 && sums["msgsReceivedFromPlatform"] >= 1 &&
			sums["platformTsProduced"] >= 3 && sums["platformAttrProduced"] >= 1 && sums["storageMsgPulled"] >= 3
	})
	if sums["conn.connectorBytesReceived"] <= 0 || sums["conn.convertersMsgDropped"] != 0 || sums["platformMsgPushed"] < 3 ||
		sums["msgsSentToPlatform"] < 1 {
		t.Errorf("statistics sums %v", sums)
	}

	latest := e.emu.Latest(gwName)
	machine := jsonObject(t, "machineStats", latest["machineStats"].Value)
	service := jsonObject(t, "serviceStats", latest["serviceStats"].Value)
	conns := jsonObject(t, "connectorsStats", latest["connectorsStats"].Value)
	t.Logf("machineStats %v\nserviceStats %v", machine, service)
	for _, k := range pyMachineKeys {
		if _, ok := machine[k]; !ok {
			t.Errorf("machineStats lacks %s: %v", k, machine)
		}
	}
	for _, k := range pyServiceKeys {
		if _, ok := service[k]; !ok {
			t.Errorf("serviceStats lacks %s: %v", k, service)
		}
	}
	alpha, _ := conns["alpha one"].(map[string]any)
	for _, k := range pyConnectorKeys {
		if _, ok := alpha[k]; !ok {
			t.Errorf("connectorsStats[alpha one] lacks %s: %v", k, alpha)
		}
	}
	if full, _ := machine["gwProcessMemoryFullInfo"].(map[string]any); len(full) != 10 || full["rss"] == nil || full["uss"] == nil {
		t.Errorf("gwProcessMemoryFullInfo = %v, want psutil's ten memory_full_info figures", machine["gwProcessMemoryFullInfo"])
	}
	if s, _ := machine["freeDisk"].(string); !humanBytes.MatchString(s) {
		t.Errorf("freeDisk = %v", machine["freeDisk"])
	}
	for _, k := range []string{"totalCpuUsage", "diskUsage", "freeMemory", "gwMemory", "gwProcessCpuUsage"} {
		if f, ok := machine[k].(float64); !ok || f < 0 {
			t.Errorf("machineStats.%s = %v, want a percentage", k, machine[k])
		}
	}
}

// TestE2ECustomStatistics: the commands of the statistics file run without a shell, each value is sent as
// telemetry of the gateway device under its attributeOnGateway key (a number as a number, text as printed); a
// command running past its timeout is killed with what it started (here a child of its shell), logged naming its key, and the others'
// values are sent all the same; shell syntax in a command is passed to the program as text.
func TestE2ECustomStatistics(t *testing.T) {
	e := newE2E(t)
	marker := filepath.Join(e.dir, "marker")
	pidFile := filepath.Join(e.dir, "slow.pid")
	cmds := []map[string]any{
		{"attributeOnGateway": "Answer", "command": []string{"echo", " 42 "}, "timeout": 10},
		{"attributeOnGateway": "Text", "command": "echo hello; touch " + marker + " $(id) | cat", "timeout": 10},
		{"attributeOnGateway": "Slow", "command": []string{"/bin/sh", "-c", "sleep 600 & echo $! > " + pidFile + "; wait"}, "timeout": 0.5},
		{"attributeOnGateway": "Silent", "command": []string{"true"}, "timeout": 10},
	}
	b, err := json.Marshal(cmds)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "statistics.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	logs, log := newLogBuffer()
	e.start(setup{
		tb: map[string]any{"statistics": map[string]any{"enable": false, "enableCustom": true,
			"configuration": "statistics.json", "customStatsSendPeriodInSeconds": 3600}},
		opts: runtime.Options{Logger: log},
	})
	e.waitFor("the custom statistics", func() bool {
		l := e.emu.Latest(gwName)
		return l["Answer"].Value != nil && l["Text"].Value != nil
	})
	l := e.emu.Latest(gwName)
	if got := l["Answer"].Value; got != 42.0 {
		t.Errorf("Answer = %v (%T), want the number 42", got, got)
	}
	if got, want := l["Text"].Value, "hello; touch "+marker+" $(id) | cat\n"; got != want {
		t.Errorf("Text = %q, want %q: the words as echo printed them", got, want)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (%v): a shell ran the command", marker, err)
	}
	for _, k := range []string{"Slow", "Silent"} {
		if v, ok := l[k]; ok {
			t.Errorf("%s sent: %v", k, v)
		}
	}
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the slow command did not start: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err != nil || n <= 1 {
		t.Fatalf("pid file %q", pid)
	}
	t.Cleanup(func() { _ = syscall.Kill(n, syscall.SIGKILL) }) // when the kill failed
	// The kill is sent before the value is published; the child's death follows without a signal to wait on.
	e.eventually("the slow command's child killed", func() bool { return processEnded(n) })
	found := false
	for _, line := range logs.lines(t) {
		if line["msg"] == "custom statistics command failed; its value is not sent" && line["attributeOnGateway"] == "Slow" {
			found = strings.Contains(line["err"].(string), "killed at its timeout of 500ms")
		}
		if line["attributeOnGateway"] == "Silent" || line["attributeOnGateway"] == "Answer" {
			t.Errorf("logged: %v", line)
		}
	}
	if !found {
		t.Errorf("no log line naming the slow command's timeout")
	}
}

// processEnded reports whether the process is gone or a zombie (killed, not yet reaped by its new parent).
func processEnded(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// TestE2EGatewayServiceRPCs: gateway_version, gateway_stats, gateway_update and gateway_reboot answer in the
// Python gateway's shapes; gateway_reboot runs only the local configuration's gateway.rebootCommand, without a
// shell, and says it is not enabled without one.
func TestE2EGatewayServiceRPCs(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		t.Run(map[bool]string{false: "no reboot command", true: "reboot command"}[enabled], func(t *testing.T) {
			e := newE2E(t)
			a := newProbe(t, "alpha one")
			rebooted := filepath.Join(e.dir, "rebooted")
			c := gwtest.Config{Connectors: []gwtest.Connector{{Type: a.conn().Type, Name: a.name, Conf: a.conn().Conf}}}
			if enabled {
				c.Sections = map[string]any{"gateway": map[string]any{"rebootCommand": []string{"touch", filepath.Join(e.dir, ";"), rebooted}}}
			}
			e.WriteConfig(c)
			e.Start(gwtest.StartOptions{Runtime: runtime.Options{Logger: testLogger("gateway")}})
			a.send(t, e.ctx, dataRec("dev-a", 1), dataRec("dev-a", 2))
			e.waitFor("the data", func() bool { _, ok := e.valueAt("dev-a", "v", 2); return ok })

			v := gatewayRPC[map[string]string](e, "gateway_version", nil).Resp
			if v["current_version"] != runtime.Version || v["latest_version"] != runtime.Version {
				t.Errorf("gateway_version: %v", v)
			}
			stats := e.rpc(gwName, "gateway_stats", nil)
			if stats["eventsProduced"] != 2.0 || stats["eventsSent"] != 2.0 || stats["alphaoneEventsProduced"] != 2.0 ||
				stats["alphaoneEventsSent"] != 2.0 || stats["code"] != 200.0 || stats["resp"] == nil {
				t.Errorf("gateway_stats: %v", stats)
			}
			up := e.rpc(gwName, "gateway_update", nil)
			if up["code"] != 501.0 || up["current_version"] != runtime.Version || !strings.Contains(up["error"].(string), "not supported") {
				t.Errorf("gateway_update: %v", up)
			}
			rb := e.rpc(gwName, "gateway_reboot", 1)
			if !enabled {
				if rb["code"] != 501.0 || !strings.Contains(rb["error"].(string), "gateway_reboot is not enabled") {
					t.Errorf("gateway_reboot without a command: %v", rb)
				}
				return
			}
			if rb["success"] != true || rb["code"] != 200.0 {
				t.Fatalf("gateway_reboot: %v", rb)
			}
			// touch creates its files in order: once the last one exists, the ";" one does, and touch writes nothing
			// more into the test's folder.
			e.eventually("the reboot command's file", func() bool { _, err := os.Stat(rebooted); return err == nil })
			if _, err := os.Stat(filepath.Join(e.dir, ";")); err != nil {
				t.Errorf("the \";\" argument did not reach touch as a file name: %v", err)
			}
		})
	}
}

// TestE2ECustomStatisticsFileMissing: a custom statistics file that is missing is logged once, naming the file
// and the key, and the gateway runs without its commands: the statistics and the data still reach ThingsBoard.
func TestE2ECustomStatisticsFileMissing(t *testing.T) {
	e := newE2E(t)
	a := newProbe(t, "alpha")
	logs, log := newLogBuffer()
	e.start(setup{
		connectors: []connSpec{a.conn()},
		tb: map[string]any{"statistics": map[string]any{"enable": true, "enableCustom": true,
			"configuration": "missing.json"}},
		opts: runtime.Options{Logger: log, StatisticsPeriod: 20 * time.Millisecond},
	})
	a.send(t, e.ctx, dataRec("dev-a", 1))
	e.waitFor("the data and the statistics", func() bool {
		_, ok := e.valueAt("dev-a", "v", 1)
		return ok && e.emu.Latest(gwName)["machineStats"].Value != nil
	})
	n := 0
	for _, line := range logs.lines(t) {
		if line["msg"] == "custom statistics commands not loaded; the gateway runs without them" {
			n++
			if err, _ := line["err"].(string); !strings.Contains(err, "thingsboard.statistics.configuration") ||
				!strings.Contains(err, filepath.Join(e.dir, "missing.json")) {
				t.Errorf("logged %q, want the key and the file", err)
			}
		}
	}
	if n != 1 {
		t.Errorf("the missing file was logged %d times, want once", n)
	}
}
