// Package modbusproto holds the parts of the Modbus protocol that the Modbus connector needs beyond its client
// library (github.com/simonvetter/modbus): the protocol data unit and its exceptions, the checksums of the serial
// framings (RTU's CRC-16, ASCII's LRC), and the framings and server code the library lacks (ASCII, serial and UDP
// servers, Read Device Identification). It holds no global state and logs only through
// the logger a Server is given.
package modbusproto
