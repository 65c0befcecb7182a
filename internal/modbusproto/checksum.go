package modbusproto

// CRC16 returns the Modbus RTU CRC-16 of b (polynomial 0xA001 reflected, initial 0xFFFF). On the wire it is
// sent low byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// LRC returns the Modbus ASCII longitudinal redundancy check of b: the two's complement of the byte sum. It is
// computed over the binary bytes (address, PDU), before their hex encoding.
func LRC(b []byte) byte {
	var sum byte
	for _, c := range b {
		sum += c
	}
	return -sum
}
