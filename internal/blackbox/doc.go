// Package blackbox is test support for the Python gateway's blackbox corpus (the Modbus and OPC-UA connector
// configs and the values ThingsBoard must hold after them, copied under each connector's testdata): comparing a
// corpus value with what the emulator or an RPC holds, reading the Modbus configs and pointing them at a local
// server, reading a written value back from that server, and the report-strategy scenarios. The connector
// packages run the cases on a gateway started with the config as a file; the runtime's remote tests run the same
// cases on a gateway the config is pushed to as a shared attribute.
package blackbox
