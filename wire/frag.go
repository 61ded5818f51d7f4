package wire

// NextFragment splits the first notification of at most mtu bytes off a
// packet: a node whose central negotiated no larger ATT MTU sends a packet
// as consecutive notifications of MinMTUPayload bytes. There is no
// fragment header: the packet's own length byte tells the receiver where
// it ends, and the CRC catches a receiver that lost sync.
func NextFragment(pkt []byte, mtu int) (frag, rest []byte) {
	mtu = max(mtu, MinMTUPayload)
	if len(pkt) <= mtu {
		return pkt, nil
	}
	return pkt[:mtu], pkt[mtu:]
}

// Defragmenter joins notifications back into packets. It never allocates:
// it holds one packet's worth of bytes. Reset it on every new connection.
type Defragmenter struct {
	buf [MaxPacket]byte
	n   int
}

// Reset drops a partial packet.
func (d *Defragmenter) Reset() { d.n = 0 }

// Feed adds one notification. It returns a complete packet (valid until the
// next Feed; check it with DecodeHeader) or nil while more fragments are
// due. Errors: ErrVersion (a fragment that cannot start a packet) and
// ErrLength (a notification running past the packet's end); either way the
// partial packet is dropped, so the next notification starts afresh.
func (d *Defragmenter) Feed(b []byte) ([]byte, error) {
	if d.n == 0 && len(b) > 0 && b[0] != Version {
		return nil, ErrVersion
	}
	if d.n+len(b) > len(d.buf) {
		d.n = 0
		return nil, ErrLength
	}
	d.n += copy(d.buf[d.n:], b)
	want := PacketLen(d.buf[:d.n])
	if want == 0 || d.n < want {
		return nil, nil
	}
	n := d.n
	d.n = 0
	if n > want {
		return nil, ErrLength
	}
	return d.buf[:n], nil
}
