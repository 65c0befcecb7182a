package main

// Every connector type built into the binary registers itself when its package is imported here.
import (
	_ "github.com/tbgateway/tbgateway/connectors/ble"
	_ "github.com/tbgateway/tbgateway/connectors/modbus"
	_ "github.com/tbgateway/tbgateway/connectors/mqtt"
	_ "github.com/tbgateway/tbgateway/connectors/opcua"
	_ "github.com/tbgateway/tbgateway/connectors/serial"
	_ "github.com/tbgateway/tbgateway/connectors/simulator"
)
