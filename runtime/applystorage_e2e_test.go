package runtime_test

// storage_configuration pushed from ThingsBoard: the running gateway switches its storage type or folder while a
// backlog waits, and every record is delivered once, in order per device.

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/gwtest"
	"github.com/tbgateway/tbgateway/runtime"
	"github.com/tbgateway/tbgateway/storage/file"
	"github.com/tbgateway/tbgateway/storage/storagetest"
	"github.com/tbgateway/tbgateway/tbemu"
	"github.com/tbgateway/tbgateway/uplink"
)

var switchBacklog = flag.Int("switch.backlog", 50_000, "records waiting in storage when the file to sqlite switch is pushed")

// switchBase is the timestamp of record 0; record i has ts switchBase+i and value n = i, device sw-<i%4>.
const switchBase = int64(1_650_000_000_000)

func switchRec(i int) tbgateway.Record {
	return tbgateway.Record{Device: fmt.Sprintf("sw-%d", i%4),
		Telemetry: []tbgateway.Telemetry{{TS: switchBase + int64(i), Values: map[string]any{"n": int64(i)}}}}
}

// switchEnv is a gateway with remote configuration on, its storage given, and a producing connector.
type switchEnv struct {
	*e2e
	gw   *gwtest.Gateway
	p    *probe
	next int // the next record to produce
}

func startSwitchEnv(t *testing.T, storage map[string]any, sections map[string]any) *switchEnv {
	e := newE2ETimeout(t, 3*testTimeout)
	p := newProbe(t, "producer")
	// Batches of 100 records: the uplink holds few records at once, so most of the backlog is still in storage
	// when the switch comes.
	st := map[string]any{"read_records_count": 100}
	for k, v := range storage {
		st[k] = v
	}
	c := p.conn()
	e.WriteConfig(gwtest.Config{Thingsboard: map[string]any{"remoteConfiguration": true}, Storage: st, Sections: sections,
		Connectors: []gwtest.Connector{{Type: c.Type, Name: c.Name, Conf: c.Conf}}})
	gw := e.Start(gwtest.StartOptions{})
	return &switchEnv{e2e: e, gw: gw, p: p}
}

// produce hands n more records to the gateway, 500 per Send.
func (s *switchEnv) produce(n int) {
	s.t.Helper()
	sink := s.p.Sink(s.t, s.ctx)
	for end := s.next + n; s.next < end; {
		batch := make([]tbgateway.Record, 0, 500)
		for ; s.next < end && len(batch) < 500; s.next++ {
			batch = append(batch, switchRec(s.next))
		}
		if err := sink.Send(s.ctx, batch...); err != nil {
			s.t.Fatalf("Send: %v", err)
		}
	}
}

// linkDown makes ThingsBoard unreachable and waits until the gateway noticed.
func (s *switchEnv) linkDown() {
	s.emu.RefuseConnections(time.Hour)
	s.emu.DropConnections()
	s.gw.WaitEvent(s.ctx, uplink.EventDisconnected)
}

// push sets storage_configuration at ThingsBoard, with a ts newer than the main file, and returns that ts.
func (s *switchEnv) push(section map[string]any) int64 {
	s.t.Helper()
	ts := time.Now().UnixMilli() + 1000
	v := map[string]any{"ts": ts}
	for k, x := range section {
		v[k] = x
	}
	if err := s.emu.SetSharedAttributes(gwName, map[string]any{"storage_configuration": v}); err != nil {
		s.t.Fatal(err)
	}
	return ts
}

// switched waits for the switch's log line and returns how many records it moved and how long it took (of
// which the settle, waiting for the records being sent, is logged).
func (s *switchEnv) switched() (int, time.Duration) {
	s.t.Helper()
	if err := s.gw.Log.Wait(s.ctx, "storage switched"); err != nil {
		s.t.Fatalf("no storage switch: %v", err)
	}
	re := regexp.MustCompile(`moved=(\d+) .*took=(\S+) settle=(\S+)`)
	for _, l := range s.gw.Log.Lines() {
		if m := re.FindStringSubmatch(l); m != nil && strings.Contains(l, "storage switched") {
			n, _ := strconv.Atoi(m[1])
			d, _ := time.ParseDuration(m[2])
			s.t.Logf("storage switched: %d records moved in %v, of which %v waiting for the records being sent", n, d, m[3])
			return n, d
		}
	}
	s.t.Fatal("the storage switched line holds no moved= and took=")
	return 0, 0
}

// checkDelivered waits until records 0..s.next-1 are at ThingsBoard, then checks that each arrived once and
// that each device's records arrived in order.
func (s *switchEnv) checkDelivered() {
	s.t.Helper()
	per := map[string]int{}
	for i := range s.next {
		per[switchRec(i).Device]++
	}
	s.waitFor("every record at ThingsBoard", func() bool {
		for dev, n := range per {
			if len(s.emu.Telemetry(dev, "n")) < n {
				return false
			}
		}
		return true
	})
	seen := make([]int, s.next)
	last := map[string]int64{}
	for _, m := range s.emu.Messages() {
		if m.Topic != "v1/gateway/telemetry" || m.Reason != 0 {
			continue
		}
		var body map[string][]struct {
			Values map[string]int64 `json:"values"`
		}
		if err := json.Unmarshal(m.Payload, &body); err != nil {
			s.t.Fatalf("gateway telemetry %s: %v", m.Payload, err)
		}
		for dev, entries := range body {
			for _, en := range entries {
				n, ok := en.Values["n"]
				if !ok {
					continue
				}
				if n < 0 || n >= int64(s.next) {
					s.t.Fatalf("%s: value %d was never produced", dev, n)
				}
				seen[n]++
				if prev, ok := last[dev]; ok && n <= prev {
					s.t.Errorf("%s: record %d arrived after %d", dev, n, prev)
				}
				last[dev] = n
			}
		}
	}
	lost, dups := 0, 0
	for _, c := range seen {
		if c == 0 {
			lost++
		}
		dups += max(c-1, 0)
	}
	if lost != 0 || dups != 0 {
		s.t.Errorf("%d of %d records lost, %d duplicates (uplink %+v)", lost, s.next, dups, s.gw.GW.Stats().Uplink)
	}
}

// switchRun builds a backlog of n records in from while ThingsBoard is unreachable, pushes to as
// storage_configuration, brings ThingsBoard back and checks that the backlog and 1,000 records produced after the
// switch all arrive once, in order per device. It returns the env, how many records the switch moved and how
// long it took.
func switchRun(t *testing.T, from, to map[string]any, n int) (*switchEnv, int, time.Duration) {
	s := startSwitchEnv(t, from, nil)
	s.linkDown()
	s.produce(n)
	s.push(to)
	// A rate limit at ThingsBoard makes the drain take seconds, so the switch, which comes one round trip after
	// the connect, finds most of the backlog still in storage.
	s.emu.SetRateLimits(tbemu.RateLimits{TelemetryDataPoints: fmt.Sprintf("%d:1", max(n/5, 2000))}, tbemu.RateLimits{})
	s.emu.RefuseConnections(0)
	moved, took := s.switched()
	if moved == 0 {
		t.Fatalf("the switch moved nothing: the backlog was delivered before it (so this run proves nothing), or the move is broken")
	}
	// Saved before the new store took over: a restart comes up on it.
	s.waitFor("the save reported", func() bool {
		v, _ := s.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteSaveKey].(json.RawMessage)
		return strings.Contains(string(v), `"key":"storage_configuration"`) && strings.Contains(string(v), `"saved":true`)
	})
	var main struct {
		Storage map[string]any `json:"storage"`
	}
	if b, err := os.ReadFile(filepath.Join(s.dir, config.MainFileJSON)); err != nil || json.Unmarshal(b, &main) != nil || main.Storage["type"] != to["type"] {
		t.Errorf("the main file's storage section is %v (%v), want type %v", main.Storage, err, to["type"])
	}
	s.produce(1000)
	s.checkDelivered()
	if got := s.gw.GW.Config().Storage.Type; got != to["type"] {
		t.Errorf("the configuration that runs has storage type %q, want %q", got, to["type"])
	}
	echo := clientObject(s.e2e, "storage_configuration")
	s.waitFor("storage_configuration echoed", func() bool {
		echo = asObject(t, "storage_configuration", s.emu.Attributes(gwName, tbemu.ScopeClient)["storage_configuration"])
		return echo["type"] == to["type"]
	})
	t.Logf("storage switch %v -> %v with %d records waiting: %d moved in %v", from["type"], to["type"], n, moved, took)
	return s, moved, took
}

// TestE2EStorageSwitchFileToSQLiteKeepsBacklog: the case, 50,000 records waiting in file storage when
// ThingsBoard pushes sqlite.
func TestE2EStorageSwitchFileToSQLiteKeepsBacklog(t *testing.T) {
	s, _, _ := switchRun(t,
		map[string]any{"type": "file", "data_folder_path": "./data/file/", "max_file_count": 100, "max_records_per_file": 10000},
		map[string]any{"type": "sqlite", "data_file_path": "./data/sqlite/data.db"}, *switchBacklog)
	s.gw.Stop()
	// The old folder holds nothing left to send.
	old, err := file.Open(file.Options{Dir: filepath.Join(s.dir, "data", "file")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if n := old.Stats().Count; n != 0 {
		t.Errorf("the old file storage still holds %d records", n)
	}
}

func TestE2EStorageSwitchRows(t *testing.T) {
	rows := []struct {
		name     string
		from, to map[string]any
	}{
		{"memory to file", map[string]any{"type": "memory", "max_records_count": 100000},
			map[string]any{"type": "file", "data_folder_path": "./data/file/", "max_file_count": 100, "max_records_per_file": 10000}},
		{"file to file in a new folder", map[string]any{"type": "file", "data_folder_path": "./data/a/", "max_file_count": 100, "max_records_per_file": 10000},
			map[string]any{"type": "file", "data_folder_path": "./data/b/", "max_file_count": 100, "max_records_per_file": 10000}},
		{"sqlite to memory", map[string]any{"type": "sqlite", "data_file_path": "./data/"},
			map[string]any{"type": "memory", "max_records_count": 100000}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) { switchRun(t, r.from, r.to, 10_000) })
	}
}

// refusalOf waits for remoteConfigurationError about the storage_configuration pushed with ts, holding want.
func (s *switchEnv) refusalOf(ts int64, want string) {
	s.t.Helper()
	s.waitFor("the refusal written back", func() bool {
		v, ok := s.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
		return ok && strings.Contains(string(v), `"key":"storage_configuration"`) && strings.Contains(string(v), fmt.Sprintf(`"ts":%d`, ts))
	})
	v := s.emu.Attributes(gwName, tbemu.ScopeClient)[runtime.RemoteConfigErrorKey].(json.RawMessage)
	if !strings.Contains(string(v), want) {
		s.t.Errorf("refusal %s does not say %q", v, want)
	}
}

// TestE2EStorageSwitchRefused: an invalid section, a folder outside the allowed ones, and a folder where the
// new store cannot open (a read-only file system) are refused with the reason written back; the old store runs
// on with its backlog, which is delivered.
func TestE2EStorageSwitchRefused(t *testing.T) {
	ro := storagetest.MountReadOnly(t)
	from := map[string]any{"type": "file", "data_folder_path": "./data/file/", "max_file_count": 100, "max_records_per_file": 10000}
	s := startSwitchEnv(t, from, map[string]any{"gateway": map[string]any{"allowedRemoteFolders": []string{ro}}})
	s.produce(100)
	s.waitFor("the first records", func() bool { return len(s.emu.Telemetry("sw-3", "n")) == 25 })
	for _, c := range []struct {
		section map[string]any
		reason  string
	}{
		{map[string]any{"type": "tape"}, "storage.type"},
		{map[string]any{"type": "memory", "max_records_count": 0}, "storage.max_records_count"},
		{map[string]any{"type": "file", "data_folder_path": t.TempDir()}, "outside the config folder"},
		{map[string]any{"type": "sqlite", "data_file_path": filepath.Join(ro, "data.db")}, "opening the new storage"},
		{map[string]any{"type": "file", "data_folder_path": ro}, "read-only file system"},
	} {
		s.linkDown()
		s.produce(500)
		ts := s.push(c.section)
		s.emu.RefuseConnections(0)
		s.refusalOf(ts, c.reason)
		if st := s.gw.GW.Config().Storage; st.Type != "file" || st.DataFolderPath != "./data/file/" {
			t.Errorf("after refusing %v the configuration that runs has storage %+v", c.section, st)
		}
		s.produce(100)
		s.checkDelivered()
	}
	if s.gw.Log.Contains("storage switched") {
		t.Error("a refused storage_configuration switched the storage")
	}
}

// TestE2EStorageSwitchWhileConnected: storage_configuration pushed while ThingsBoard is connected and a connector
// keeps sending; the records sent during the switch wait in Send and arrive after the earlier ones, each once.
func TestE2EStorageSwitchWhileConnected(t *testing.T) {
	s := startSwitchEnv(t, map[string]any{"type": "file", "data_folder_path": "./data/file/", "max_file_count": 100, "max_records_per_file": 10000}, nil)
	s.produce(2000)
	stop, done := make(chan struct{}), make(chan error, 1)
	sink := s.p.Sink(t, s.ctx)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			batch := make([]tbgateway.Record, 0, 100)
			for range 100 {
				batch = append(batch, switchRec(s.next))
				s.next++
			}
			if err := sink.Send(s.ctx, batch...); err != nil {
				done <- err
				return
			}
		}
	}()
	s.push(map[string]any{"type": "sqlite", "data_file_path": "./data/sqlite/"})
	_, _ = s.switched()
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("Send during the switch: %v", err)
	}
	s.produce(500)
	s.checkDelivered()
}
