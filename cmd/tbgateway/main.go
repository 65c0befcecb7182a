// Command tbgateway runs the gateway: it reads a ThingsBoard IoT Gateway config folder (tb_gateway.json or .yaml
// and the connector files it lists), collects data from the configured devices and delivers it to ThingsBoard.
//
//	tbgateway [--config PATH]        run the gateway (PATH: the main file or its folder;
//	                                 default $TB_GW_CONFIG_DIR, then ./config/)
//	tbgateway check-config [PATH]    validate the configuration without connecting; exit 0 (warnings allowed) or 2
//	tbgateway demo                   run the gateway against an embedded ThingsBoard emulator and simulated devices
//	tbgateway version                print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/logging"
	"github.com/tbgateway/tbgateway/runtime"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-version":
			fmt.Fprintf(stdout, "tbgateway %s\n", runtime.Version)
			return exitOK
		case "check-config":
			return checkConfig(args[1:], stdout, stderr)
		case "demo":
			return runDemo(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("tbgateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "main config file (tb_gateway.json or .yaml) or the folder holding it; default $TB_GW_CONFIG_DIR, then ./config/")
	logLevel := fs.String("log-level", "info", "log level: trace, debug, info, warn, error; with a logs.json in the config folder, given explicitly it overrides the levels of every logger")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tbgateway: unexpected argument %q (commands: check-config, demo, version)\n", fs.Arg(0))
		return exitConfig
	}
	path := config.ResolvePath(*cfgPath, os.Getenv)
	levelSet := false
	fs.Visit(func(f *flag.Flag) { levelSet = levelSet || f.Name == "log-level" })
	logs, warns, err := openLogs(configDir(path), *logLevel, levelSet, *logFormat, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tbgateway: %v\n", err)
		return exitConfig
	}
	defer logs.Close()
	log := logs.Logger()
	for _, w := range warns {
		log.Warn("logging configuration", "warning", w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return runGateway(ctx, path, log, stderr, hup)
}

// runGateway loads the config at path and runs the gateway until ctx ends; gateway_restart re-executes the binary.
// Each signal on hup makes the gateway check its configuration files at once (runtime.Gateway.Reload).
func runGateway(ctx context.Context, path string, log *slog.Logger, stderr io.Writer, hup <-chan os.Signal) int {
	gw, err := startGateway(path, os.Getenv, log)
	if err != nil {
		fmt.Fprintf(stderr, "tbgateway: %v\n", err)
		return exitConfig
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-runCtx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: checking the configuration files now")
				_ = gw.Reload(runCtx) // Reload logs what it refuses
			}
		}
	}()
	err = gw.Run(runCtx)
	if errors.Is(err, runtime.ErrRestart) {
		log.Info("restarting the gateway as requested by RPC")
		return reexec(stderr)
	}
	if err != nil {
		log.Error("gateway stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

// startGateway loads the config at path, logs its warnings and builds the gateway: the start that
// check-config predicts (an error here is one check-config reports; see runtime.CheckConfig).
func startGateway(path string, env func(string) string, log *slog.Logger) (*runtime.Gateway, error) {
	cfg, warnings, err := config.Load(path, env)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn("config", "warning", w.String())
	}
	return runtime.New(cfg, runtime.Options{Logger: log, Env: env})
}

// reexec replaces the process with a fresh copy of itself, with the same arguments and environment.
func reexec(stderr io.Writer) int {
	exe, err := os.Executable()
	if err == nil {
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	fmt.Fprintf(stderr, "tbgateway: restart failed: %v\n", err)
	return exitFailed
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "main config file or its folder (same as the positional PATH)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	path := *cfgPath
	if fs.NArg() > 0 {
		path = fs.Arg(0)
	}
	path = config.ResolvePath(path, os.Getenv)
	warnings, err := runtime.CheckConfig(path, os.Getenv)
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitConfig
	}
	fmt.Fprintf(stdout, "%s: configuration is valid\n", path)
	return exitOK
}

// configDir is the config folder of a --config path (the main file or its folder).
func configDir(path string) string {
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return filepath.Dir(path)
	}
	return path
}

// openLogs sets up the gateway's logging: the config folder's logs.json when there is one (levels per logger,
// console and rotating files; with levelSet, level overrides every logger's level), else the console (stderr) at
// level. The warnings name what logs.json holds outside the supported subset.
func openLogs(dir, level string, levelSet bool, format string, stdout, stderr io.Writer) (*logging.Logs, []string, error) {
	if _, err := newLogger(io.Discard, level, format); err != nil {
		return nil, nil, err
	}
	lv, _ := logging.ParseLevel(level)
	o := logging.OpenOptions{Dir: dir, Stdout: stdout, Stderr: stderr, JSON: format == "json"}
	fc, warns, err := logging.ReadFile(dir)
	if err != nil {
		return nil, warns, err
	}
	if fc == nil {
		return logging.Console(lv, o), nil, nil
	}
	logs, err := logging.Open(fc, o)
	if err != nil {
		return nil, warns, err
	}
	if levelSet {
		for _, c := range logging.Categories() {
			logs.SetLevel(c, lv)
		}
	}
	return logs, warns, nil
}

// newLogger returns a console logger on w (the demo's).
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lv, err := logging.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	if format != "text" && format != "json" {
		return nil, fmt.Errorf("--log-format: expected text or json, found %q", format)
	}
	return logging.Console(lv, logging.OpenOptions{Stderr: w, JSON: format == "json"}).Logger(), nil
}
