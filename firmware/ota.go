package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"

	"github.com/vibemon/vibemon/wire"
)

// Slot is the flash partition a new image is written to.
type Slot interface {
	Size() uint32
	// Erase prepares the first size bytes for writing.
	Erase(size uint32) error
	WriteAt(p []byte, off uint32) error
	ReadAt(p []byte, off uint32) error
}

// BootControl is the bootloader's A/B switch (esp_ota_* on ESP-IDF,
// MCUboot's test/confirm on others).
type BootControl interface {
	// Activate makes the update slot boot next, on trial: unless the new
	// image calls Confirm, the bootloader goes back to the old one.
	Activate() error
	// Pending reports that the running image is on trial.
	Pending() bool
	// Confirm keeps the running image.
	Confirm() error
	// Rollback marks the running image bad and the old one to boot next.
	Rollback() error
}

// Verifier checks an image signature over its SHA-256 digest.
type Verifier interface {
	Verify(digest, sig []byte) bool
}

// Ed25519Verifier verifies Ed25519 signatures of the 32-byte digest with
// the release key. crypto/ed25519 is importable in TinyGo; a board short
// of flash can swap in another Verifier.
type Ed25519Verifier struct{ PublicKey ed25519.PublicKey }

// Verify implements Verifier.
func (v Ed25519Verifier) Verify(digest, sig []byte) bool {
	return len(v.PublicKey) == ed25519.PublicKeySize && ed25519.Verify(v.PublicKey, digest, sig)
}

// ProgressEvery is how often (bytes) the receiver persists its offset: a
// flash sector, so a power loss costs at most one sector of resend and
// the store sees one write per 4 KiB of image.
const ProgressEvery = 4096

// OTAReceiver takes an image over the OTA characteristics: Begin with size,
// version, SHA-256 and signature; data chunks at exactly the next offset,
// each with a CRC-32; Commit hashes the whole slot, checks the digest and
// signature and activates the image. Its progress survives power loss.
type OTAReceiver struct {
	slot    Slot
	boot    BootControl
	verify  Verifier
	store   Store
	running [3]uint8
	st      wire.OTAStatus
	begin   wire.Command
	rec     [4 + 4 + 3 + 32 + 64]byte
	buf     [256]byte
}

// NewOTAReceiver returns a receiver writing to slot, restoring a transfer
// in progress from st. running is the version now running.
func NewOTAReceiver(slot Slot, boot BootControl, v Verifier, st Store, running [3]uint8) *OTAReceiver {
	r := &OTAReceiver{slot: slot, boot: boot, verify: v, store: st, running: running}
	r.st.MaxChunk = wire.MaxOTAChunk
	if n, err := st.Get(KeyOTA, r.rec[:]); err == nil && n == len(r.rec) {
		le := binary.LittleEndian
		r.begin = wire.Command{Op: wire.OpOTABegin, Size: le.Uint32(r.rec[0:])}
		next := le.Uint32(r.rec[4:])
		copy(r.begin.Version[:], r.rec[8:11])
		copy(r.begin.SHA256[:], r.rec[11:43])
		copy(r.begin.Signature[:], r.rec[43:])
		if r.begin.Size > 0 && next <= r.begin.Size {
			r.st = wire.OTAStatus{State: wire.OTAReceiving, Version: r.begin.Version, MaxChunk: wire.MaxOTAChunk, Size: r.begin.Size, NextOffset: next}
		}
	}
	return r
}

// Status returns the receiver's progress for an OTA status packet.
func (r *OTAReceiver) Status() wire.OTAStatus { return r.st }

func (r *OTAReceiver) fail(e wire.OTAError) wire.OTAError {
	r.st.State, r.st.Error = wire.OTAFailed, e
	return e
}

func (r *OTAReceiver) persist() {
	le := binary.LittleEndian
	le.PutUint32(r.rec[0:], r.begin.Size)
	le.PutUint32(r.rec[4:], r.st.NextOffset)
	copy(r.rec[8:11], r.begin.Version[:])
	copy(r.rec[11:43], r.begin.SHA256[:])
	copy(r.rec[43:], r.begin.Signature[:])
	r.store.Put(KeyOTA, r.rec[:])
}

func (r *OTAReceiver) forget() {
	clear(r.rec[:])
	r.store.Put(KeyOTA, r.rec[:])
}

// Begin starts a transfer, or resumes one for the same image (same digest
// and size) at the persisted offset.
func (r *OTAReceiver) Begin(c *wire.Command) wire.OTAError {
	if r.st.State == wire.OTAReceiving && c.Size == r.begin.Size && c.SHA256 == r.begin.SHA256 {
		r.st.Error = wire.OTAOK
		return wire.OTAOK
	}
	r.st = wire.OTAStatus{MaxChunk: wire.MaxOTAChunk, Version: c.Version, Size: c.Size}
	if !newer(c.Version, r.running) {
		return r.fail(wire.OTAErrDowngrade)
	}
	if c.Size > r.slot.Size() {
		return r.fail(wire.OTAErrTooLarge)
	}
	if r.slot.Erase(c.Size) != nil {
		return r.fail(wire.OTAErrFlash)
	}
	r.begin = *c
	r.st.State = wire.OTAReceiving
	r.persist()
	return wire.OTAOK
}

func newer(a, b [3]uint8) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return false
}

// Data takes one OTA data write as it came off the air.
func (r *OTAReceiver) Data(b []byte) wire.OTAError {
	if r.st.State != wire.OTAReceiving {
		return wire.OTAErrState
	}
	off, data, err := wire.DecodeOTAData(b)
	if err != nil {
		r.st.Error = wire.OTAErrChunkCRC
		return wire.OTAErrChunkCRC // stay receiving: the sender resends from NextOffset
	}
	if off != r.st.NextOffset || uint64(off)+uint64(len(data)) > uint64(r.begin.Size) {
		r.st.Error = wire.OTAErrOffset
		return wire.OTAErrOffset
	}
	if r.slot.WriteAt(data, off) != nil {
		return r.fail(wire.OTAErrFlash)
	}
	prev := r.st.NextOffset
	r.st.NextOffset += uint32(len(data))
	r.st.Error = wire.OTAOK
	if prev/ProgressEvery != r.st.NextOffset/ProgressEvery || r.st.NextOffset == r.begin.Size {
		// Persist the sector boundary reached, so a resume rewrites at
		// most the partial sector after it.
		keep := r.st.NextOffset
		if keep != r.begin.Size {
			keep -= keep % ProgressEvery
		}
		next := r.st.NextOffset
		r.st.NextOffset = keep
		r.persist()
		r.st.NextOffset = next
	}
	return wire.OTAOK
}

// Commit verifies the whole image as it is in flash (SHA-256 against
// Begin's digest, then the signature) and activates it. On OTAOK the node
// reboots into the image on trial.
func (r *OTAReceiver) Commit() wire.OTAError {
	if r.st.State != wire.OTAReceiving || r.st.NextOffset != r.begin.Size {
		r.st.Error = wire.OTAErrState
		return wire.OTAErrState
	}
	r.st.State = wire.OTAVerifying
	h := sha256.New()
	for off := uint32(0); off < r.begin.Size; {
		n := min(uint32(len(r.buf)), r.begin.Size-off)
		if r.slot.ReadAt(r.buf[:n], off) != nil {
			return r.fail(wire.OTAErrFlash)
		}
		h.Write(r.buf[:n])
		off += n
	}
	var sum [32]byte
	h.Sum(sum[:0])
	r.forget()
	if !bytes.Equal(sum[:], r.begin.SHA256[:]) {
		return r.fail(wire.OTAErrHash)
	}
	if r.verify == nil || !r.verify.Verify(sum[:], r.begin.Signature[:]) {
		return r.fail(wire.OTAErrSignature)
	}
	if r.boot.Activate() != nil {
		return r.fail(wire.OTAErrFlash)
	}
	r.st.State, r.st.Error = wire.OTAReady, wire.OTAOK
	return wire.OTAOK
}

// Abort forgets the transfer.
func (r *OTAReceiver) Abort() {
	r.forget()
	r.st = wire.OTAStatus{MaxChunk: wire.MaxOTAChunk}
}
