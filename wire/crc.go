package wire

// crc16Table is the table of CRC-16/CCITT-FALSE (polynomial 0x1021, MSB
// first), built at init so the binary carries no 512-byte literal.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16 returns the CRC-16/CCITT-FALSE of b (initial value 0xFFFF, no
// reflection, no final XOR; "123456789" gives 0x29B1). It guards every
// packet and control command.
func CRC16(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, v := range b {
		c = c<<8 ^ crc16Table[byte(c>>8)^v]
	}
	return c
}
