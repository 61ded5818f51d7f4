package redis

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vibemon/vibemon"
)

// The bus sends each Publish call as one message in a small binary framing
// rather than JSON: Data is already JSON and needs no re-validation or
// escaping, and decoding is a few varint reads (see BenchmarkCodec).
//
//	message = version:byte count:uvarint event*
//	event   = type:byte [typeLen:uvarint typeBytes] org:varint device:varint asset:varint dataLen:uvarint data
//
// type is 1 reading, 2 alert, 3 presence, or 0 followed by the type string.
const codecVersion = 1

var typeCodes = map[string]byte{vibemon.EventReading: 1, vibemon.EventAlert: 2, vibemon.EventPresence: 3}

var typeNames = [...]string{1: vibemon.EventReading, 2: vibemon.EventAlert, 3: vibemon.EventPresence}

// appendEvents appends the encoding of events to dst.
func appendEvents(dst []byte, events []vibemon.Event) []byte {
	dst = append(dst, codecVersion)
	dst = binary.AppendUvarint(dst, uint64(len(events)))
	for i := range events {
		ev := &events[i]
		code := typeCodes[ev.Type]
		dst = append(dst, code)
		if code == 0 {
			dst = binary.AppendUvarint(dst, uint64(len(ev.Type)))
			dst = append(dst, ev.Type...)
		}
		dst = binary.AppendVarint(dst, ev.OrgID)
		dst = binary.AppendVarint(dst, ev.DeviceID)
		dst = binary.AppendVarint(dst, ev.AssetID)
		dst = binary.AppendUvarint(dst, uint64(len(ev.Data)))
		dst = append(dst, ev.Data...)
	}
	return dst
}

var errCorrupt = errors.New("corrupt bus message")

// decodeEvents decodes a message made by appendEvents. The events' Data
// share one copy of msg.
func decodeEvents(msg string) ([]vibemon.Event, error) {
	b := []byte(msg)
	if len(b) == 0 || b[0] != codecVersion {
		return nil, fmt.Errorf("decode bus message: %w: unknown version", errCorrupt)
	}
	d := decoder{b: b, i: 1}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(b)) {
		return nil, fmt.Errorf("decode bus message: %w: bad count", errCorrupt)
	}
	events := make([]vibemon.Event, n)
	for i := range events {
		ev := &events[i]
		code := d.byte()
		if code == 0 {
			ev.Type = string(d.bytes())
		} else if int(code) < len(typeNames) {
			ev.Type = typeNames[code]
		} else {
			d.err = errCorrupt
		}
		ev.OrgID = d.varint()
		ev.DeviceID = d.varint()
		ev.AssetID = d.varint()
		ev.Data = d.bytes()
		if d.err != nil {
			return nil, fmt.Errorf("decode bus message: event %d: %w", i, errCorrupt)
		}
	}
	if d.i != len(b) {
		return nil, fmt.Errorf("decode bus message: %w: %d trailing bytes", errCorrupt, len(b)-d.i)
	}
	return events, nil
}

type decoder struct {
	b   []byte
	i   int
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || d.i >= len(d.b) {
		d.err = errCorrupt
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.i += n
	return v
}

// bytes returns a length-prefixed slice of the buffer, capped so that an
// append by a subscriber cannot overwrite the next event.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)-d.i) {
		d.err = errCorrupt
		return nil
	}
	if n == 0 {
		return nil // a nil Data stays nil (JSON null), not an empty one
	}
	s := d.b[d.i : d.i+int(n) : d.i+int(n)]
	d.i += int(n)
	return s
}
