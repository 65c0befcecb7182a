// Package gwtest is the connector kit's one end-to-end helper: it starts the ThingsBoard emulator (tbemu, in
// process) and a whole gateway built from a configuration folder the way the tbgateway command builds it
// (config.Load, runtime.New, Run), and waits for what reaches the emulator. Every end-to-end test (the runtime's
// and each connector's) uses it instead of its own copy.
//
//	e := gwtest.New(t, gwtest.Options{})                   // tbemu with the gateway device; bounded context e.Ctx
//	e.WriteConfig(gwtest.Config{Connectors: []gwtest.Connector{
//		{Type: "mqtt", Name: "MQTT", Conf: conf},      // the connector file's content
//	}})                                                  // tb_gateway.json pointed at tbemu, memory storage
//	g := e.Start(gwtest.StartOptions{})                  // returns once the gateway reached tbemu
//	g.WaitLog(e.Ctx, "connected to the broker")          // the gateway's log is kept in g.Log
//	publish(t, "sensors/a", `{"t": 21.5}`)
//	e.WaitTelemetry("sensor-a", "t", 1)                  // woken by the emulator, no polling
//	reply := e.RPC("sensor-a", "getValue", map[string]any{"key": "t"})
//	g.Stop()                                             // also done at the end of the test
//
// A user's configuration folder (e.g. a Python gateway example in testdata) runs as it is, pointed at the
// emulator by the environment overrides the Python gateway's Docker image takes:
//
//	e.CopyConfig("testdata/modbus-example")
//	e.Start(gwtest.StartOptions{Env: e.EmulatorEnv()})
//
// A test that SIGKILLs the gateway runs it as the tbgateway command in a child process, built once per test from
// the module's source (the real entry point: flags, logger, signal handling):
//
//	bin := gwtest.BuildGateway(t)
//	p := gwtest.StartProcess(t, e.Dir, gwtest.ProcessOptions{Binary: bin})
//	p.WaitLog(e.Ctx, "connected to the broker")          // its stderr is kept in p.Log
//	p.Kill()                                             // SIGKILL; p.Stop(ctx) sends SIGTERM and waits
//
// Contract: nothing here sleeps to synchronise; WaitFor, WaitDevice, WaitTelemetry and WaitAttribute wake on the
// emulator's state changes, Gateway.WaitLog on log lines, and Eventually polls only state outside the emulator.
// Every wait is bounded by the Env's context (Options.Timeout), a failure bound. Set E2E_LOG=1 to see the
// emulator's and the gateway's logs on stderr.
package gwtest
