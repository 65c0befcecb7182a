package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSplitCommand: words split as a POSIX shell splits them, and nothing else: operators, variables and globs
// stay text and are named for the warning; bad quoting is an error.
func TestSplitCommand(t *testing.T) {
	cases := []struct {
		in   string
		argv []string
		op   string
		err  bool
	}{
		{in: "uptime", argv: []string{"uptime"}},
		{in: "  df  -h\t/ ", argv: []string{"df", "-h", "/"}},
		{in: `echo 'a b' "c d" e\ f`, argv: []string{"echo", "a b", "c d", "e f"}},
		{in: `echo "x\"y" 'x\y' "a\b"`, argv: []string{"echo", `x"y`, `x\y`, `a\b`}},
		{in: `printf '' ""`, argv: []string{"printf", "", ""}},
		{in: "free -m | grep Swap", argv: []string{"free", "-m", "|", "grep", "Swap"}, op: "|"},
		{in: "echo a; touch x", argv: []string{"echo", "a;", "touch", "x"}, op: ";"},
		{in: "echo $HOME", argv: []string{"echo", "$HOME"}, op: "$"},
		{in: `echo "$(id)"`, argv: []string{"echo", "$(id)"}, op: "$"},
		{in: "echo '$(id) | x'", argv: []string{"echo", "$(id) | x"}},
		{in: "ls *.json", argv: []string{"ls", "*.json"}, op: "*"},
		{in: "echo 'open", err: true},
		{in: `echo "open`, err: true},
		{in: `echo \`, err: true},
		{in: "   "},
	}
	for _, c := range cases {
		argv, op, err := SplitCommand(c.in)
		if (err != nil) != c.err || !slices.Equal(argv, c.argv) || op != c.op {
			t.Errorf("SplitCommand(%q) = %q, %q, %v; want %q, %q, error %v", c.in, argv, op, err, c.argv, c.op, c.err)
		}
	}
}

// TestStatisticsCommandsFromFileAndInline: the Python sample statistics file loads (relative to the config
// folder), inline commands follow it, a string command is split, shell operators and installCmd are warned
// about, and enableCustom follows enable when absent.
func TestStatisticsCommandsFromFileAndInline(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"accessToken": "T"},
			"statistics": {"enable": true, "configuration": "statistics/cmds.json",
				"commands": [{"attributeOnGateway": "Kernel", "command": "uname -r", "timeout": 2.5}]}}}`,
		"statistics/cmds.json": `[
			{"timeout": 100, "command": ["/bin/sh", "-c", "uptime"], "attributeOnGateway": "Uptime"},
			{"timeout": 1, "command": "free -m | grep Swap", "attributeOnGateway": "Swap", "installCmd": "apt-get install procps"}]`,
	})
	cfg, warns, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatisticsCommandsErr != nil {
		t.Fatal(cfg.StatisticsCommandsErr)
	}
	want := []StatCommand{
		{Attribute: "Uptime", Argv: []string{"/bin/sh", "-c", "uptime"}, Timeout: 100 * time.Second},
		{Attribute: "Swap", Argv: []string{"free", "-m", "|", "grep", "Swap"}, Timeout: time.Second},
		{Attribute: "Kernel", Argv: []string{"uname", "-r"}, Timeout: 2500 * time.Millisecond},
	}
	if !slices.EqualFunc(cfg.StatisticsCommands, want, func(a, b StatCommand) bool {
		return a.Attribute == b.Attribute && a.Timeout == b.Timeout && slices.Equal(a.Argv, b.Argv)
	}) {
		t.Errorf("commands = %+v\nwant %+v", cfg.StatisticsCommands, want)
	}
	st := cfg.Thingsboard.Statistics
	if !st.EnableCustom || !st.HasCommands {
		t.Errorf("statistics = %+v, want enableCustom following enable and HasCommands", st)
	}
	var text []string
	for _, w := range warns {
		text = append(text, w.String())
	}
	all := strings.Join(text, "\n")
	cmds := filepath.Join(dir, "statistics", "cmds.json")
	for _, w := range []string{cmds + ": [1].command: runs without a shell: \"|\" reaches free as an argument",
		cmds + ": [1].installCmd: install commands are not run"} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings %q lack %q", text, w)
		}
	}
}

// TestStatisticsCommandsCorpusSample: the Python gateway's statistics_linux.json loads as it is.
func TestStatisticsCommandsCorpusSample(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"accessToken": "T"},
			"statistics": {"enableCustom": true, "configuration": "` +
			filepath.Join(mustAbs(t, "testdata/corpus/statistics"), "statistics_linux.json") + `"}}}`,
	})
	cfg, _, err := Load(dir, nil)
	if err != nil || cfg.StatisticsCommandsErr != nil {
		t.Fatal(err, cfg.StatisticsCommandsErr)
	}
	if len(cfg.StatisticsCommands) != 6 || cfg.StatisticsCommands[2].Attribute != "IP address" ||
		!slices.Equal(cfg.StatisticsCommands[2].Argv, []string{"/bin/sh", "-c", "hostname -I"}) {
		t.Errorf("commands = %+v", cfg.StatisticsCommands)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStatisticsCommandsErrors: a missing or bad commands file is no load error (the gateway runs without its
// commands) but Check reports it, naming the file and the key; a bad inline command is a main-file error.
func TestStatisticsCommandsErrors(t *testing.T) {
	cases := []struct {
		name, file, want string
	}{
		{"missing", "", "thingsboard.statistics.configuration: expected a readable file of custom statistics commands"},
		{"not a list", `{"command": "uptime"}`, "expected a list of {command, timeout, attributeOnGateway}"},
		{"no timeout", `[{"command": "uptime", "attributeOnGateway": "U"}]`, "[0].timeout: expected a number of seconds > 0"},
		{"bad quote", `[{"command": "echo 'x", "attributeOnGateway": "U", "timeout": 1}]`, "[0].command: expected a command: a list of program and arguments, or a string (unterminated single quote)"},
		{"empty list", `[{"command": [], "attributeOnGateway": "U", "timeout": 1}]`, "[0].command: expected a command"},
	}
	for _, c := range cases {
		files := map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"accessToken": "T"},
			"statistics": {"configuration": "s.json"}}}`}
		if c.file != "" {
			files["s.json"] = c.file
		}
		dir := writeFiles(t, files)
		cfg, _, err := Load(dir, nil)
		if err != nil {
			t.Fatalf("%s: Load: %v", c.name, err)
		}
		if cfg.StatisticsCommandsErr == nil || !strings.Contains(cfg.StatisticsCommandsErr.Error(), c.want) {
			t.Errorf("%s: StatisticsCommandsErr = %v, want %q", c.name, cfg.StatisticsCommandsErr, c.want)
		}
		if _, err := Check(dir, nil, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check = %v, want %q", c.name, err, c.want)
		}
	}
	dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"accessToken": "T"},
		"statistics": {"commands": [{"command": 5, "attributeOnGateway": "U", "timeout": 1}]}}}`})
	if _, _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "thingsboard.statistics.commands[0].command: expected a command") {
		t.Errorf("inline bad command: %v", err)
	}
}

// TestRebootCommand: gateway.rebootCommand is a list or a split string; absent, gateway_reboot is not enabled.
func TestRebootCommand(t *testing.T) {
	for in, want := range map[string][]string{
		``:                nil,
		`, "gateway": {}`: nil,
		`, "gateway": {"rebootCommand": ["systemctl", "reboot"]}`: {"systemctl", "reboot"},
		`, "gateway": {"rebootCommand": "sudo -n /sbin/reboot"}`:  {"sudo", "-n", "/sbin/reboot"},
	} {
		dir := writeFiles(t, map[string]string{"tb_gateway.json": `{"thingsboard": {"host": "h", "security": {"accessToken": "T"}}` + in + `}`})
		cfg, warns, err := Load(dir, nil)
		if err != nil || len(warns) != 0 {
			t.Fatalf("%s: %v %v", in, err, warns)
		}
		if !slices.Equal(cfg.Gateway.RebootCommand, want) {
			t.Errorf("%s: rebootCommand = %q, want %q", in, cfg.Gateway.RebootCommand, want)
		}
	}
}
