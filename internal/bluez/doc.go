// Package bluez is the gateway's client of BlueZ (bluetoothd) over the system D-Bus: scanning (active discovery or
// passive scanning through an advertisement monitor), connecting to LE devices by MAC address, and reading, writing
// and subscribing to GATT characteristics.
//
// Why our own client on github.com/godbus/dbus/v5 rather than tinygo.org/x/bluetooth: tinygo's Connect waits for
// Connected with no timeout and no context (a hung connect blocks forever and the connector's `timeout` key cannot
// be honoured); its Read, Write and StartNotify take no context; every EnableNotifications and Scan registers its
// own catch-all PropertiesChanged channel on a shared bus, so each signal is copied to every subscriber (work grows
// as devices x notifications); it has no passive scan; it keeps a package-global default adapter; and it pulls
// radio drivers for other platforms into the module graph. godbus is the D-Bus library tinygo itself uses on Linux;
// using it directly costs one small package and speaks exactly the D-Bus API bluetoothd documents.
//
// Design: every Conn has its own private bus connection (never the process-wide shared one) and one dispatcher
// goroutine that receives every signal from a bounded queue and routes it by object path through a map, so the
// cost of a notification does not depend on the number of devices or subscriptions. Match rules are limited to
// sender org.bluez. Every call that can block takes a context; BlueZ's D-Bus errors come back as *Error carrying
// the error name. Callbacks (scan and notification functions) run on the dispatcher goroutine: they must return
// quickly and must not call back into the Conn.
package bluez
