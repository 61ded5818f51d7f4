package firmware

import (
	"encoding/binary"

	"github.com/vibemon/vibemon/wire"
)

// Ring is the buffer of summary packets not yet acknowledged by a
// gateway. It keeps encoded packets (wire.SummaryPacketLen bytes each), in
// RAM and, when it has a Store, slot by slot in the store, so a reboot or
// deep sleep loses nothing. Packets before the sent cursor were notified
// but not yet acknowledged (ResumeFrom acknowledges); packets after it are
// unsent. When full, the oldest packet is overwritten; overwriting an
// unsent one counts as a drop, which the node reports in an EventDataLost
// and in Status.Dropped so the server can record the gap.
//
// The ring also owns the summary sequence: NextSeq is the number the next
// summary takes (0, 1, 2, ... for the node's life), persisted in the same
// record as the ring's head and count. Push writes the slot first and that
// record second, so a power loss between the two leaves the summary out of
// the ring and its number unused: the next summary takes it, and no number
// is ever skipped or given to two summaries a gateway could have seen (see
// docs/protocol.md, "Sequence numbers").
type Ring struct {
	slots []byte
	cap   int
	head  int // oldest
	n     int
	sent  int // packets from head that were sent
	// dropped counts every drop ever; unreported drops since the last
	// EventDataLost, and the first of them.
	dropped, unreported, firstLost uint32
	// next is the next summary's seq; seqKnown is false when the store
	// held no record of it (a new node, or one written by firmware that
	// shared one counter among all packet types).
	next     uint32
	seqKnown bool
	store    Store
	meta     [metaLen]byte
}

// metaLen is the ring record's length; legacyMetaLen the length firmware
// before the dense summary sequence wrote (no next seq).
const (
	metaLen       = 28
	legacyMetaLen = 24
)

const slotLen = wire.SummaryPacketLen

// NewRing returns a ring of capacity packets, restored from st when st
// holds one of the same capacity (st may be nil: RAM only).
func NewRing(capacity int, st Store) *Ring {
	r := &Ring{slots: make([]byte, capacity*slotLen), cap: capacity, store: st}
	if st == nil {
		return r
	}
	n, err := st.Get(KeyRingMeta, r.meta[:])
	if err != nil || (n != metaLen && n != legacyMetaLen) {
		return r
	}
	le := binary.LittleEndian
	if n == metaLen {
		// The sequence survives a change of capacity, which empties the ring.
		r.next, r.seqKnown = le.Uint32(r.meta[24:]), true
	}
	if int(le.Uint32(r.meta[0:])) != capacity {
		return r
	}
	r.head, r.n, r.sent = int(le.Uint32(r.meta[4:])), int(le.Uint32(r.meta[8:])), 0
	r.dropped, r.unreported, r.firstLost = le.Uint32(r.meta[12:]), le.Uint32(r.meta[16:]), le.Uint32(r.meta[20:])
	if r.head >= capacity || r.n > capacity {
		r.head, r.n = 0, 0
		return r
	}
	for i := 0; i < r.n; i++ {
		s := (r.head + i) % capacity
		if k, err := st.Get(KeyRingSlot+uint16(s), r.slot(s)); err != nil || k != slotLen {
			// A slot that did not survive ends the ring there.
			r.n = i
			break
		}
	}
	if r.n > 0 {
		// Push persists the slot before the record, so the newest slot is
		// below next; this only matters for a legacy record.
		if last := binary.LittleEndian.Uint32(r.slot((r.head + r.n - 1) % capacity)[4:]) + 1; !r.seqKnown || int32(last-r.next) > 0 {
			r.next = last
		}
	}
	return r
}

// NextSeq returns the sequence number the next summary takes.
func (r *Ring) NextSeq() uint32 { return r.next }

// SeqRestored reports whether NextSeq came from the ring's record. When
// it did not, NextSeq is 0 or, for a legacy record, one past the newest
// restored summary.
func (r *Ring) SeqRestored() bool { return r.seqKnown }

// SetNextSeq sets and persists the next summary's seq; the node uses it
// once, for a store written by firmware with the shared counter.
func (r *Ring) SetNextSeq(seq uint32) {
	r.next, r.seqKnown = seq, true
	r.saveMeta()
}

func (r *Ring) slot(i int) []byte { return r.slots[i*slotLen : (i+1)*slotLen] }

func (r *Ring) saveMeta() {
	if r.store == nil {
		return
	}
	le := binary.LittleEndian
	le.PutUint32(r.meta[0:], uint32(r.cap))
	le.PutUint32(r.meta[4:], uint32(r.head))
	le.PutUint32(r.meta[8:], uint32(r.n))
	le.PutUint32(r.meta[12:], r.dropped)
	le.PutUint32(r.meta[16:], r.unreported)
	le.PutUint32(r.meta[20:], r.firstLost)
	le.PutUint32(r.meta[24:], r.next)
	r.store.Put(KeyRingMeta, r.meta[:])
}

// Len returns the packets held; Cap the capacity; Unsent those not sent.
func (r *Ring) Len() int    { return r.n }
func (r *Ring) Cap() int    { return r.cap }
func (r *Ring) Unsent() int { return r.n - r.sent }

// Dropped returns how many unsent packets were overwritten, ever.
func (r *Ring) Dropped() uint32 { return r.dropped }

// Push appends a summary packet (wire.SummaryPacketLen bytes) whose seq is
// NextSeq, overwriting the oldest when full, and reports whether an unsent
// packet was lost. NextSeq becomes the packet's seq + 1.
//
// Write order, for power loss at any point: when full, first the record
// without the oldest (it is about to be overwritten: dropped and counted),
// then the new slot, then the record with the new packet and the next seq.
// A cut after the slot but before the last record leaves a slot outside
// the ring and the seq unused, to be taken by the next summary; a cut
// never leaves a restored ring whose slots disagree with its record.
func (r *Ring) Push(pkt []byte) (lost bool) {
	if len(pkt) != slotLen {
		return false
	}
	if r.n == r.cap {
		if r.sent == 0 {
			lost = true
			seq := binary.LittleEndian.Uint32(r.slot(r.head)[4:])
			if r.unreported == 0 {
				r.firstLost = seq
			}
			r.dropped++
			r.unreported++
		} else {
			r.sent--
		}
		r.head = (r.head + 1) % r.cap
		r.n--
		r.saveMeta()
	}
	s := (r.head + r.n) % r.cap
	copy(r.slot(s), pkt)
	if r.store != nil {
		r.store.Put(KeyRingSlot+uint16(s), pkt)
	}
	r.n++
	r.next, r.seqKnown = binary.LittleEndian.Uint32(pkt[4:])+1, true
	r.saveMeta()
	return lost
}

// NextUnsent returns the oldest unsent packet, nil when all were sent. The
// slice is the ring's: MarkSent before the next Push.
func (r *Ring) NextUnsent() []byte {
	if r.sent >= r.n {
		return nil
	}
	return r.slot((r.head + r.sent) % r.cap)
}

// MarkSent records that NextUnsent was notified.
func (r *Ring) MarkSent() {
	if r.sent < r.n {
		r.sent++
	}
}

// ResumeFrom acknowledges every packet older than seq (the gateway holds
// them) and makes the rest unsent again, so they are sent from seq on.
// Sequence numbers compare with wrap-around.
func (r *Ring) ResumeFrom(seq uint32) {
	for r.n > 0 && int32(binary.LittleEndian.Uint32(r.slot(r.head)[4:])-seq) < 0 {
		r.head = (r.head + 1) % r.cap
		r.n--
	}
	r.sent = 0
	r.saveMeta()
}

// Rewind makes every held packet unsent, as after a disconnect when the
// gateway may have missed notifications still queued in the radio.
func (r *Ring) Rewind() { r.sent = 0 }

// TakeLoss returns the unsent packets dropped since the last call and the
// sequence number of the first of them, and resets the count.
func (r *Ring) TakeLoss() (count, first uint32) {
	count, first = r.unreported, r.firstLost
	if count > 0 {
		r.unreported = 0
		r.saveMeta()
	}
	return count, first
}
