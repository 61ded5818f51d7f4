package blelink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"sync"

	fw "github.com/vibemon/vibemon/firmware"
	"github.com/vibemon/vibemon/gateway"
	"github.com/vibemon/vibemon/wire"
)

// SlotSize is a simulated node's update slot: 1 MiB.
const SlotSize = 1 << 20

// simImageMagic starts every simulated firmware image; the version
// follows. A simulated node "boots" an image by reading its version.
var simImageMagic = []byte("VIBEMON-SIM-IMG\x00")

// SimImage returns a firmware image a simulated node can boot: the magic,
// the version, a flags byte (0) and seeded filler up to size.
func SimImage(version [3]uint8, size int, seed uint64) []byte {
	size = max(size, len(simImageMagic)+4)
	b := make([]byte, size)
	copy(b, simImageMagic)
	copy(b[len(simImageMagic):], version[:])
	rng := rand.New(rand.NewPCG(seed, 11))
	for i := len(simImageMagic) + 4; i < size; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// SimImageNoConfirm is SimImage for a broken build: it boots but never
// confirms itself, so the node rolls back after Config.ConfirmWithin.
func SimImageNoConfirm(version [3]uint8, size int, seed uint64) []byte {
	b := SimImage(version, size, seed)
	b[len(simImageMagic)+3] = simNoConfirm
	return b
}

const simNoConfirm = 1

// SignImage returns the image's SHA-256 and its Ed25519 signature with
// priv, as the release tooling makes them (firmware/README.md).
func SignImage(priv ed25519.PrivateKey, image []byte) (digest [32]byte, sig []byte) {
	digest = sha256.Sum256(image)
	return digest, ed25519.Sign(priv, digest[:])
}

// simBoot is a simulated node's flash partitions and bootloader: the
// update slot, the running version and the A/B trial state. It lives
// across the node's reboots (its flash). Methods run on the node's
// goroutine; Firmware may be called from others.
type simBoot struct {
	mu       sync.Mutex
	slot     []byte
	running  [3]uint8
	previous [3]uint8
	next     *[3]uint8 // activated: boots next, on trial
	nextBad  bool      // the activated image never confirms
	trial    bool
	broken   bool // the running trial image never confirms
	rolled   bool // the last boot was a rollback
}

func (b *simBoot) Size() uint32 { return SlotSize }

func (b *simBoot) Erase(size uint32) error {
	if size > SlotSize {
		return errors.New("blelink: image larger than the slot")
	}
	b.slot = make([]byte, size)
	return nil
}

func (b *simBoot) WriteAt(p []byte, off uint32) error {
	if int(off)+len(p) > len(b.slot) {
		return errors.New("blelink: write past the erased slot")
	}
	copy(b.slot[off:], p)
	return nil
}

func (b *simBoot) ReadAt(p []byte, off uint32) error {
	if int(off)+len(p) > len(b.slot) {
		return errors.New("blelink: read past the slot")
	}
	copy(p, b.slot[off:])
	return nil
}

// Activate implements firmware.BootControl: a slot holding a simulated
// image boots next, on trial; anything else does not boot (flash error).
func (b *simBoot) Activate() error {
	n := len(simImageMagic)
	if len(b.slot) < n+4 || !bytes.Equal(b.slot[:n], simImageMagic) {
		return errors.New("blelink: the slot does not hold a bootable image")
	}
	v := [3]uint8{b.slot[n], b.slot[n+1], b.slot[n+2]}
	b.mu.Lock()
	b.next, b.nextBad = &v, b.slot[n+3]&simNoConfirm != 0
	b.mu.Unlock()
	return nil
}

func (b *simBoot) Pending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.trial
}

func (b *simBoot) Confirm() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.broken {
		return errors.New("blelink: this image never confirms")
	}
	b.trial = false
	return nil
}

func (b *simBoot) Rollback() error {
	b.mu.Lock()
	b.running, b.trial, b.broken, b.next, b.rolled = b.previous, false, false, nil, true
	b.mu.Unlock()
	return nil
}

// boot returns the version to run and why the node starts after a reboot.
func (b *simBoot) boot() ([3]uint8, wire.ResetReason) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.next != nil:
		b.previous, b.running, b.trial, b.broken, b.next = b.running, *b.next, true, b.nextBad, nil
		return b.running, wire.ResetOTA
	case b.rolled:
		b.rolled = false
		return b.running, wire.ResetRollback
	}
	return b.running, wire.ResetSoftware
}

// Firmware returns the version the node runs now.
func (b *simBoot) Firmware() [3]uint8 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// Firmware returns the firmware version the node runs now.
func (n *SimNode) Firmware() [3]uint8 { return n.boot.Firmware() }

// OnOTAData runs fn on the node's goroutine after every OTA data write the
// node took, with the receiver's next offset; a test uses it to break the
// link mid-transfer. nil removes it.
func (n *SimNode) OnOTAData(fn func(next uint32)) {
	n.mu.Lock()
	n.onOTAData = fn
	n.mu.Unlock()
}

// WriteOTAControl implements gateway.OTAConn: the node runs the command
// before the write returns, and notifies an OTA status.
func (c *conn) WriteOTAControl(ctx context.Context, cmd []byte) error {
	b := append([]byte(nil), cmd...)
	return c.n.call(ctx, c, func(n *fw.Node) error { return n.HandleOTAControl(b) })
}

// WriteOTAData implements gateway.OTAConn: a write without response,
// lost with the link's Drop probability (the node then reports an offset
// error on the next chunk and the sender goes back).
func (c *conn) WriteOTAData(ctx context.Context, chunk []byte) error {
	l := c.n.link
	l.mu.Lock()
	lost := l.rng.Float64() < l.cfg.Drop
	l.mu.Unlock()
	if lost {
		c.n.f.stats.dropped.Add(1)
		return nil
	}
	b := append([]byte(nil), chunk...)
	return c.n.call(ctx, c, func(node *fw.Node) error {
		node.HandleOTAData(b)
		c.n.mu.Lock()
		hook := c.n.onOTAData
		c.n.mu.Unlock()
		if hook != nil && node.OTA() != nil {
			hook(node.OTA().Status().NextOffset)
		}
		return nil
	})
}

// OTANotifications implements gateway.OTAConn.
func (c *conn) OTANotifications() <-chan []byte { return c.otaOut }

// notifyOTA queues an OTA status fragment for the central (Notify loses
// whole packets with LinkConfig.DropOTA before they get here).
func (c *conn) notifyOTA(b []byte) {
	select {
	case c.otaOut <- append([]byte(nil), b...):
	default:
	}
}

var _ gateway.OTAConn = (*conn)(nil)

// Reboot restarts the node as a Reboot command would: settings given
// over the link since boot (interval, ranges) are lost, as on the board.
func (n *SimNode) Reboot(ctx context.Context) error {
	cmd := wire.AppendCommand(nil, &wire.Command{Op: wire.OpReboot})
	return n.call(ctx, nil, func(node *fw.Node) error { return node.HandleControl(cmd) })
}
