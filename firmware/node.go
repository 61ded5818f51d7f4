package firmware

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/vibemon/vibemon/wire"
)

// Sensor is the node's measurement hardware: an MPU6050 with its FIFO, a
// DS18B20 on one-wire and a battery ADC.
type Sensor interface {
	// Init configures the accelerometer's full scale (2/4/8/16 g) and sample
	// rate (Hz) and clears its FIFO.
	Init(rangeG, rateHz int) error
	// ReadAccelFIFO moves up to len(dst)/3 frames (x, y, z counts) out of
	// the FIFO and returns how many values it wrote (a multiple of 3).
	ReadAccelFIFO(dst []int16) (int, error)
	// StartTemperature starts a DS18B20 conversion (750 ms at 12 bits).
	StartTemperature() error
	// ReadTemperature returns the converted temperature, °C.
	ReadTemperature() (float32, error)
	// BatteryVolts returns the battery voltage, V.
	BatteryVolts() (float32, error)
}

// AdvMode is what a Link advertises.
type AdvMode uint8

// Advertising modes.
const (
	AdvOff     AdvMode = iota
	AdvBonded          // connectable by the bonded central only (filter accept list)
	AdvPairing         // connectable by anyone, for bonding
)

// Link is the BLE peripheral side.
type Link interface {
	// Connected reports an admitted central.
	Connected() bool
	// MTU returns the notification payload size (ATT MTU - 3).
	MTU() int
	// Notify sends one notification on c; an error (queue full, link
	// lost) leaves the packet for a later Step.
	Notify(c wire.Char, b []byte) error
	// Advertise switches advertising.
	Advertise(m AdvMode) error
	// Bonded reports whether the radio holds a bond.
	Bonded() bool
}

// Admit is the rule for an incoming connection: one central at a time. A
// second central is refused (the board disconnects it with "remote user
// terminated" and the node sends EventCentralRejected to the first); out of
// pairing mode, a central without the bond is refused.
func Admit(alreadyConnected, centralBonded, pairing bool) (ok bool, reason uint32) {
	switch {
	case alreadyConnected:
		return false, 1
	case !pairing && !centralBonded:
		return false, 2
	}
	return true, 0
}

// Config is the node's configuration. Zero fields take the defaults named.
type Config struct {
	Interval   time.Duration // between summaries; default 60 s
	SampleRate int           // Hz; default 1000 (the MPU6050 FIFO's maximum)
	Window     int           // samples per summary, a power of two 256..4096; default 1024
	RangeG     int           // accelerometer full scale; default 16
	LowPassHz  float32       // accelerometer DLPF corner, caps the velocity band; 0 none
	// RingCapacity is how many summaries wait for a gateway; default 1440,
	// 24 h at the default interval (89 KiB of RAM). See BufferHours.
	RingCapacity  int
	MaxBurst      int           // frames; default 4096
	StatusEvery   time.Duration // while connected; default 15 min
	ConfirmWithin time.Duration // a new image must connect within; default 10 min
	Timeouts      Timeouts
	Firmware      [3]uint8
	Hardware      uint8
	Serial        [8]byte
	// Now is the clock; nil means time.Now. Only differences matter until
	// a SetTime command gives wall-clock time.
	Now func() time.Time
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	def(&c.SampleRate, 1000)
	def(&c.Window, 1024)
	def(&c.RangeG, 16)
	def(&c.RingCapacity, 1440)
	def(&c.MaxBurst, 4096)
	if c.StatusEvery <= 0 {
		c.StatusEvery = 15 * time.Minute
	}
	if c.ConfirmWithin <= 0 {
		c.ConfirmWithin = 10 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// BufferHours returns how many hours of summaries the ring holds before
// the oldest unsent one is dropped.
func (c Config) BufferHours() float64 {
	c.defaults()
	return float64(c.RingCapacity) * c.Interval.Hours()
}

// ErrConfig is returned by NewNode for a configuration it cannot run.
var ErrConfig = errors.New("firmware: invalid config")

// Hardware is what a Node drives. Slot, Boot and Verifier may be nil: no OTA.
type Hardware struct {
	Sensor   Sensor
	Link     Link
	Store    Store
	Slot     Slot
	Boot     BootControl
	Verifier Verifier
}

// DrainEvery is the FIFO read period while capturing: the MPU6050's
// 1024-byte FIFO holds 170 frames, 170 ms at 1 kHz.
const DrainEvery = 100 * time.Millisecond

// ConversionTime is the DS18B20's 12-bit conversion time.
const ConversionTime = 750 * time.Millisecond

// sendPerStep bounds the notifications of one Step, so commands and the
// sampling schedule are served between them.
const sendPerStep = 8

// Node is the sensor node's core: drive it with Step from the board's main
// loop (or the simulator) and feed it the central's writes. Not safe for
// concurrent use: the board glue serialises BLE callbacks into the loop.
type Node struct {
	cfg  Config
	hw   Hardware
	m    Machine
	ring *Ring
	vel  *Velocity
	ota  *OTAReceiver

	start      time.Time
	wallOffset int64 // ms to add to uptime for wall time; 0 until SetTime
	clockSet   bool
	legacyLim  uint32 // KeyNode's seq field: above every seq this node used (downgrade safety)
	boots      uint32
	reset      wire.ResetReason

	wasConnected bool
	streaming    bool
	nextWindow   time.Time
	nextStatus   time.Time
	confirmBy    time.Time

	// capture
	capturing bool
	capStart  time.Time
	nextDrain time.Time
	got       int
	axes      [3][]float32
	mom       [3]Moments
	clipped   bool
	fifo      []int16
	faults    int

	// burst
	burst      []int16
	burstWant  int
	burstGot   int
	burstID    uint16
	burstSent  int
	burstReady bool

	pending []wire.Event
	pkt     [wire.MaxPacket]byte
	// tail is the rest of a packet that went partly on air (see notify);
	// a new connection drops it.
	tailBuf  [wire.MaxPacket]byte
	tail     []byte
	tailChar wire.Char
	rec      [8]byte
}

// NewNode returns a node in PowerOn. reset is why the board started.
func NewNode(cfg Config, hw Hardware, reset wire.ResetReason) (*Node, error) {
	cfg.defaults()
	if cfg.Window < 256 || cfg.Window > 4096 || cfg.Window&(cfg.Window-1) != 0 || cfg.SampleRate > 1000 ||
		cfg.RingCapacity > 0xF000 || hw.Sensor == nil || hw.Link == nil || hw.Store == nil {
		return nil, ErrConfig
	}
	n := &Node{cfg: cfg, hw: hw, reset: reset, ring: NewRing(cfg.RingCapacity, hw.Store), vel: NewVelocity(cfg.Window)}
	n.m.Timeouts = cfg.Timeouts
	n.start = cfg.Now()
	n.m.Since = n.start
	for a := range n.axes {
		n.axes[a] = make([]float32, cfg.Window)
	}
	n.fifo = make([]int16, 3*170)
	n.burst = make([]int16, 3*cfg.MaxBurst)
	if hw.Slot != nil && hw.Boot != nil {
		n.ota = NewOTAReceiver(hw.Slot, hw.Boot, hw.Verifier, hw.Store, cfg.Firmware)
		if hw.Boot.Pending() {
			n.confirmBy = n.start.Add(cfg.ConfirmWithin)
		}
	}
	// Summaries are numbered densely by the ring (Ring.NextSeq, persisted
	// with the ring); other packets carry the next summary's number and
	// consume none. KeyNode keeps the boot count and, for a rollback to
	// firmware that numbered every packet from one counter reserved 256 at
	// a time, a reservation above every number used: that firmware resumes
	// there and never reuses a summary's number.
	if k, err := hw.Store.Get(KeyNode, n.rec[:]); err == nil && k == len(n.rec) {
		n.legacyLim = binary.LittleEndian.Uint32(n.rec[0:])
		n.boots = binary.LittleEndian.Uint32(n.rec[4:])
	}
	if !n.ring.SeqRestored() {
		// No record of the summary sequence: a new node (KeyNode absent
		// too), or the first boot after an upgrade from the shared
		// counter, which goes on above every number that firmware may
		// have used (one jump, once in the node's life), since a gateway
		// may have acknowledged up to any of them. The record is written
		// before KeyNode, so a node with KeyNode and no record is always
		// an upgraded one.
		next := n.ring.NextSeq()
		if int32(n.legacyLim-next) > 0 {
			next = n.legacyLim
		}
		n.ring.SetNextSeq(next)
	}
	n.boots++
	n.reserve()
	n.pending = append(n.pending, wire.Event{Code: wire.EventBoot, Arg1: uint32(reset), Arg2: n.boots})
	return n, nil
}

// reserve persists the boot count and a downgrade reservation 256 above
// the next summary seq; finishWindow renews it every 256 summaries.
func (n *Node) reserve() {
	n.legacyLim = n.ring.NextSeq() + 256
	binary.LittleEndian.PutUint32(n.rec[0:], n.legacyLim)
	binary.LittleEndian.PutUint32(n.rec[4:], n.boots)
	n.hw.Store.Put(KeyNode, n.rec[:])
}

// State returns the state machine's state.
func (n *Node) State() State { return n.m.State }

// Ring returns the buffer of unsent summaries.
func (n *Node) Ring() *Ring { return n.ring }

// OTA returns the OTA receiver, nil without OTA hardware.
func (n *Node) OTA() *OTAReceiver { return n.ota }

// LED returns whether the LED is lit now.
func (n *Node) LED() bool { return LED(n.m.State).Lit(n.cfg.Now().Sub(n.m.Since)) }

// header returns the header of a packet made at now. Its seq is the next
// summary's: a summary takes it (finishWindow), any other packet only
// carries it, so a Status with seq S says its Buffered summaries are the
// ones below S.
func (n *Node) header(now time.Time) wire.Header {
	up := now.Sub(n.start).Milliseconds()
	h := wire.Header{Seq: n.ring.NextSeq(), Time: uint64(up + n.wallOffset)}
	if !n.clockSet {
		h.Flags = wire.FlagUptime
	}
	return h
}

func (n *Node) measuring() bool {
	switch n.m.State {
	case Pairing, Advertising, ConnectedIdle, Streaming, Disconnected, Reconnecting:
		return true
	}
	return false
}

func (n *Node) connected() bool {
	return n.m.State == ConnectedIdle || n.m.State == Streaming || n.m.State == OTAUpdate
}

// notify sends pkt, in MTU-sized fragments when the MTU is small.
//
// A packet larger than the MTU is several notifications. When the first
// fails nothing is on air and the error goes to the caller, who sends the
// packet again later. When a later one fails, the packet is already half
// on air: its rest is kept and goes out before anything else, so the
// central never gets half a packet followed by another (its
// defragmenter could not tell them apart); the packet counts as sent.
func (n *Node) notify(c wire.Char, pkt []byte) error {
	if err := n.flushTail(); err != nil {
		return err
	}
	mtu := n.hw.Link.MTU()
	for rest := pkt; len(rest) > 0; {
		frag, next := wire.NextFragment(rest, mtu)
		if err := n.hw.Link.Notify(c, frag); err != nil {
			if len(rest) == len(pkt) {
				return err
			}
			n.tail, n.tailChar = append(n.tailBuf[:0], rest...), c
			return nil
		}
		rest = next
	}
	return nil
}

// flushTail sends the rest of a packet a failed notification cut short.
func (n *Node) flushTail() error {
	mtu := n.hw.Link.MTU()
	for len(n.tail) > 0 {
		frag, next := wire.NextFragment(n.tail, mtu)
		if err := n.hw.Link.Notify(n.tailChar, frag); err != nil {
			return err
		}
		n.tail = next
	}
	return nil
}

func (n *Node) event(e Event, now time.Time) {
	prev := n.m.State
	if !n.m.Handle(e, now) {
		return
	}
	n.enter(prev, now)
}

// enter runs the actions of entering the current state.
func (n *Node) enter(prev State, now time.Time) {
	switch n.m.State {
	case Pairing:
		n.hw.Link.Advertise(AdvPairing)
	case Advertising, Reconnecting:
		n.hw.Link.Advertise(AdvBonded)
	case Disconnected:
		n.hw.Link.Advertise(AdvOff)
		n.streaming = false
		n.tail = nil
		n.ring.Rewind()
	case ConnectedIdle:
		if prev == Streaming {
			return
		}
		n.tail = nil // a new central: nothing of the last link's packets
		n.hw.Link.Advertise(AdvOff)
		n.nextStatus = now // status on connect
		if n.hw.Boot != nil && n.hw.Boot.Pending() {
			// Connected with working sensors: keep the new image. A
			// confirmation that failed leaves it on trial: it rolls back
			// at confirmBy unless a later connection confirms it.
			if n.hw.Boot.Confirm() == nil {
				n.confirmBy = time.Time{}
			}
		}
	}
}

// Step does the work due at the clock's now and returns when it wants to
// run again; the board sleeps until then (deep sleep when Disconnected and
// the wait is long) or until a BLE callback.
func (n *Node) Step() time.Time {
	now := n.cfg.Now()
	if !n.confirmBy.IsZero() && !now.Before(n.confirmBy) {
		n.confirmBy = time.Time{}
		n.hw.Boot.Rollback()
		n.pending = append(n.pending, wire.Event{Code: wire.EventRollback, Arg1: version(n.cfg.Firmware)})
		n.event(EvReboot, now)
	}
	switch n.m.State {
	case PowerOn:
		n.event(EvBoot, now)
		fallthrough
	case Initializing:
		if err := n.hw.Sensor.Init(n.cfg.RangeG, n.cfg.SampleRate); err != nil {
			n.event(EvInitFailed, now)
		} else {
			n.m.Bonded = n.hw.Link.Bonded()
			n.faults = 0
			n.nextWindow = now
			n.event(EvInitOK, now)
		}
	case Rebooting:
		return time.Time{}
	}
	// Connection edges.
	if c := n.hw.Link.Connected(); c != n.wasConnected {
		n.wasConnected = c
		if c {
			if n.m.State == Pairing && n.hw.Link.Bonded() {
				n.m.Bonded = true
				n.event(EvBonded, now)
			} else {
				n.event(EvConnected, now)
			}
		} else {
			n.event(EvDisconnected, now)
		}
	} else if c && n.m.State == Pairing && n.hw.Link.Bonded() {
		n.m.Bonded = true
		n.event(EvBonded, now)
	}
	prev := n.m.State
	if n.m.Tick(now) {
		n.enter(prev, now)
	}
	if n.measuring() {
		n.sample(now)
	}
	if n.connected() {
		n.send(now)
	}
	return n.wake(now)
}

func (n *Node) wake(now time.Time) time.Time {
	next := n.nextWindow
	if n.capturing || (n.burstWant > 0 && n.burstGot < n.burstWant) {
		next = n.nextDrain
	}
	if dl := n.m.Deadline(); !dl.IsZero() && dl.Before(next) {
		next = dl
	}
	if n.connected() {
		if n.nextStatus.Before(next) {
			next = n.nextStatus
		}
		if (n.streaming && n.ring.Unsent() > 0) || len(n.pending) > 0 || (n.burstReady && n.burstSent < n.burstChunks()) {
			next = now.Add(10 * time.Millisecond)
		}
	}
	if !n.confirmBy.IsZero() && n.confirmBy.Before(next) {
		next = n.confirmBy
	}
	return next
}

func (n *Node) countsPerG() float32 { return 32768 / float32(n.cfg.RangeG) }

// sample runs the schedule: a window starts every Interval (DS18B20
// conversion started with it), the FIFO is drained every DrainEvery, and
// the summary is made when the window is full and the conversion done.
func (n *Node) sample(now time.Time) {
	if n.burstWant > 0 && n.burstGot < n.burstWant {
		if now.Before(n.nextDrain) {
			return
		}
		k, err := n.hw.Sensor.ReadAccelFIFO(n.burst[3*n.burstGot : 3*n.burstWant])
		switch {
		case errors.Is(err, ErrFIFOOverflow): // a hole in the burst: capture it again
			n.burstGot = 0
			n.fifoOverflow()
		case err == nil:
			n.burstGot += k / 3
		}
		n.nextDrain = now.Add(DrainEvery)
		if n.burstGot >= n.burstWant {
			n.burstReady, n.burstSent = true, 0
			n.pending = append(n.pending, wire.Event{Code: wire.EventBurstReady, Arg1: uint32(n.burstID), Arg2: uint32(n.burstWant)})
		}
		return
	}
	if !n.capturing {
		if now.Before(n.nextWindow) {
			return
		}
		n.capturing, n.capStart, n.got, n.clipped = true, now, 0, false
		for a := range n.mom {
			n.mom[a].Reset()
		}
		n.hw.Sensor.ReadAccelFIFO(n.fifo) // discard what piled up while idle
		n.hw.Sensor.StartTemperature()
		n.nextDrain = now.Add(DrainEvery)
		n.nextWindow = n.nextWindow.Add(n.cfg.Interval)
		if n.nextWindow.Before(now) {
			n.nextWindow = now.Add(n.cfg.Interval)
		}
		return
	}
	if now.Before(n.nextDrain) {
		return
	}
	n.nextDrain = now.Add(DrainEvery)
	for n.got < n.cfg.Window {
		k, err := n.hw.Sensor.ReadAccelFIFO(n.fifo)
		if errors.Is(err, ErrFIFOOverflow) {
			// Samples were lost: the window would not be contiguous.
			// Start it again (the temperature conversion runs on).
			n.got, n.clipped = 0, false
			for a := range n.mom {
				n.mom[a].Reset()
			}
			n.fifoOverflow()
			return
		}
		if err != nil {
			n.sensorFault(now, 1)
			return
		}
		if k == 0 {
			break
		}
		g := n.countsPerG()
		for i := 0; i+2 < k && n.got < n.cfg.Window; i += 3 {
			for a := range 3 {
				c := n.fifo[i+a]
				if c == math.MaxInt16 || c == math.MinInt16 {
					n.clipped = true
				}
				v := float32(c) / g
				n.axes[a][n.got] = v
				n.mom[a].Add(v)
			}
			n.got++
		}
	}
	if n.got < n.cfg.Window || now.Sub(n.capStart) < ConversionTime {
		return
	}
	n.capturing = false
	n.finishWindow(now)
}

// fifoOverflow reports a window or burst discarded after an accelerometer
// FIFO overflow: EventFIFOOverflow, Arg1 the windows discarded since the
// last one was sent (one pending event counts them all, so a sensor that
// keeps overflowing cannot flood the queue).
func (n *Node) fifoOverflow() {
	for i := range n.pending {
		if n.pending[i].Code == wire.EventFIFOOverflow {
			n.pending[i].Arg1++
			return
		}
	}
	n.pending = append(n.pending, wire.Event{Code: wire.EventFIFOOverflow, Arg1: 1})
}

func (n *Node) sensorFault(now time.Time, which uint32) {
	n.capturing = false
	n.faults++
	n.pending = append(n.pending, wire.Event{Code: wire.EventSensorFault, Arg1: which, Arg2: uint32(n.faults)})
	if n.faults >= 3 {
		n.event(EvFault, now)
	}
}

func (n *Node) finishWindow(now time.Time) {
	var s wire.Summary
	s.Reset()
	fs := float32(n.cfg.SampleRate)
	lo, hi, covered := VelocityBand(fs, n.cfg.LowPassHz)
	for a := range 3 {
		f := n.mom[a].Features()
		f.VelRMS = n.vel.RMS(n.axes[a], fs, lo, hi)
		s.Values[int(wire.AccRMSX)+a] = f.AccRMS
		s.Values[int(wire.AccPeakX)+a] = f.AccPeak
		s.Values[int(wire.VelRMSX)+a] = f.VelRMS
		s.Values[int(wire.CrestX)+a] = f.Crest
		s.Values[int(wire.KurtosisX)+a] = f.Kurtosis
	}
	if t, err := n.hw.Sensor.ReadTemperature(); err == nil {
		s.Values[wire.TempC] = t
	} else {
		n.pending = append(n.pending, wire.Event{Code: wire.EventSensorFault, Arg1: 2, Arg2: 1})
	}
	if v, err := n.hw.Sensor.BatteryVolts(); err == nil {
		s.Values[wire.BatteryV] = v
	}
	s.SampleRate, s.Samples = uint16(n.cfg.SampleRate), uint16(n.cfg.Window)
	s.VelBandLo, s.VelBandHi, s.RangeG = uint16(lo), uint16(hi), uint8(n.cfg.RangeG)
	if covered {
		s.Flags |= wire.SummaryISOBand
	}
	if n.clipped {
		s.Flags |= wire.SummaryClipped
	}
	n.faults = 0
	h := n.header(n.capStart)
	n.ring.Push(wire.AppendSummary(n.pkt[:0], &h, &s))
	if int32(n.ring.NextSeq()-n.legacyLim) >= 0 {
		n.reserve()
	}
}

func version(v [3]uint8) uint32 { return uint32(v[0])<<16 | uint32(v[1])<<8 | uint32(v[2]) }

func (n *Node) burstChunks() int {
	per := wire.ChunkFrames(3)
	return (n.burstWant + per - 1) / per
}

// send notifies what is due: events, status, then the summary backlog
// when streaming, then burst chunks; at most sendPerStep packets.
func (n *Node) send(now time.Time) {
	if count, first := n.ring.TakeLoss(); count > 0 {
		n.pending = append(n.pending, wire.Event{Code: wire.EventDataLost, Arg1: count, Arg2: first})
	}
	budget := sendPerStep
	for len(n.pending) > 0 && budget > 0 {
		h := n.header(now)
		if n.notify(wire.CharTelemetry, wire.AppendEvent(n.pkt[:0], &h, &n.pending[0])) != nil {
			return
		}
		n.pending = n.pending[1:]
		budget--
	}
	if !now.Before(n.nextStatus) && budget > 0 {
		s := n.Status(now)
		h := n.header(now)
		if n.notify(wire.CharTelemetry, wire.AppendStatus(n.pkt[:0], &h, &s)) != nil {
			return
		}
		n.nextStatus = now.Add(n.cfg.StatusEvery)
		budget--
	}
	for n.streaming && budget > 0 {
		p := n.ring.NextUnsent()
		if p == nil {
			break
		}
		// Replayed packets keep their sequence number and time; the
		// replay flag changes the CRC.
		b := append(n.pkt[:0], p...)
		if n.ring.Unsent() > 1 {
			b[2] |= wire.FlagReplay
		}
		binary.LittleEndian.PutUint16(b[len(b)-2:], wire.CRC16(b[:len(b)-2]))
		if n.notify(wire.CharTelemetry, b) != nil {
			return
		}
		n.ring.MarkSent()
		budget--
	}
	for n.burstReady && budget > 0 && n.burstSent < n.burstChunks() {
		per := wire.ChunkFrames(3)
		lo := n.burstSent * per
		hi := min(n.burstWant, lo+per)
		c := wire.BurstChunk{BurstID: n.burstID, Index: uint16(n.burstSent), Count: uint16(n.burstChunks()),
			FirstFrame: uint16(lo), TotalFrames: uint16(n.burstWant), Axes: 3,
			RateMilliHz: uint32(n.cfg.SampleRate) * 1000, Scale: 1 / n.countsPerG(), Data: n.burst[3*lo : 3*hi]}
		h := n.header(now)
		if n.notify(wire.CharTelemetry, wire.AppendBurstChunk(n.pkt[:0], &h, &c)) != nil {
			return
		}
		n.burstSent++
		budget--
	}
}

// Status returns the node's status as of now.
func (n *Node) Status(now time.Time) wire.Status {
	s := wire.Status{BatteryV: float32(math.NaN()), TempC: float32(math.NaN()), Firmware: n.cfg.Firmware,
		ResetReason: n.reset, UptimeS: uint32(now.Sub(n.start) / time.Second), State: uint8(n.m.State),
		Buffered: uint16(n.ring.Len()), Capacity: uint16(n.ring.Cap()), Dropped: n.ring.Dropped(),
		IntervalS: uint16(n.cfg.Interval / time.Second)}
	if v, err := n.hw.Sensor.BatteryVolts(); err == nil {
		s.BatteryV = v
	}
	if n.clockSet {
		s.Flags |= wire.StatusClockSet
	}
	if n.streaming {
		s.Flags |= wire.StatusStreaming
	}
	if n.m.Bonded {
		s.Flags |= wire.StatusBonded
	}
	if n.hw.Boot != nil && n.hw.Boot.Pending() {
		s.Flags |= wire.StatusPendingOTA
	}
	if n.faults > 0 {
		s.Flags |= wire.StatusSensorFault
	}
	if n.ring.Dropped() > 0 {
		s.Flags |= wire.StatusRingOverflow
	}
	return s
}

// HandleControl runs a command written to the Control characteristic.
// It returns the decoder's error for a malformed command.
func (n *Node) HandleControl(b []byte) error {
	var c wire.Command
	if err := wire.DecodeCommand(b, &c); err != nil {
		return err
	}
	now := n.cfg.Now()
	switch c.Op {
	case wire.OpSetTime:
		old := n.wallOffset
		n.wallOffset = int64(c.Time) - now.Sub(n.start).Milliseconds()
		n.clockSet = true
		n.pending = append(n.pending, wire.Event{Code: wire.EventClockSet,
			Arg1: uint32((now.Sub(n.start).Milliseconds() + old) / 1000), Arg2: uint32(c.Time / 1000)})
	case wire.OpStartStreaming:
		n.streaming = true
		n.event(EvStartStream, now)
	case wire.OpStopStreaming:
		n.streaming = false
		n.event(EvStopStream, now)
	case wire.OpSetInterval:
		n.cfg.Interval = time.Duration(c.IntervalS) * time.Second
		n.nextWindow = now
	case wire.OpSetRanges:
		if int(c.Window) != n.cfg.Window {
			n.vel = NewVelocity(int(c.Window))
			for a := range n.axes {
				n.axes[a] = make([]float32, c.Window)
			}
		}
		n.cfg.RangeG, n.cfg.SampleRate, n.cfg.Window = int(c.RangeG), int(c.SampleRate), int(c.Window)
		n.capturing = false
		if err := n.hw.Sensor.Init(n.cfg.RangeG, n.cfg.SampleRate); err != nil {
			n.sensorFault(now, 1)
		}
	case wire.OpRequestBurst:
		n.burstID++
		n.burstWant, n.burstGot, n.burstReady = min(int(c.Frames), n.cfg.MaxBurst), 0, false
		n.capturing = false
		n.hw.Sensor.ReadAccelFIFO(n.fifo)
		n.nextDrain = now.Add(DrainEvery)
	case wire.OpResumeFrom:
		n.ring.ResumeFrom(c.Seq)
		n.streaming = true
		n.event(EvStartStream, now)
	case wire.OpEnterPairing:
		n.m.Bonded = false
		n.event(EvPair, now)
	case wire.OpReboot:
		n.event(EvReboot, now)
	case wire.OpRequestStatus:
		n.nextStatus = now
	default:
		return wire.ErrType
	}
	return nil
}

// HandleOTAControl runs a command written to OTA Control and notifies the
// receiver's status.
func (n *Node) HandleOTAControl(b []byte) error {
	if n.ota == nil {
		return wire.ErrType
	}
	var c wire.Command
	if err := wire.DecodeCommand(b, &c); err != nil {
		return err
	}
	now := n.cfg.Now()
	switch c.Op {
	case wire.OpOTABegin:
		if n.ota.Begin(&c) == wire.OTAOK {
			n.event(EvOTABegin, now)
		}
	case wire.OpOTACommit:
		e := n.ota.Commit()
		n.pending = append(n.pending, wire.Event{Code: wire.EventOTAResult, Arg1: uint32(e), Arg2: version(n.ota.begin.Version)})
		if e == wire.OTAOK {
			n.event(EvOTADone, now)
		} else {
			n.event(EvOTAFailed, now)
		}
	case wire.OpOTAAbort:
		n.ota.Abort()
		n.event(EvOTAFailed, now)
	case wire.OpOTAQuery:
	default:
		return wire.ErrType
	}
	n.notifyOTA(now)
	return nil
}

// HandleOTAData takes an OTA data write; it notifies status every 16
// chunks and on every error.
func (n *Node) HandleOTAData(b []byte) {
	if n.ota == nil {
		return
	}
	before := n.ota.Status().NextOffset
	e := n.ota.Data(b)
	if e != wire.OTAOK || (n.ota.Status().NextOffset/wire.MaxOTAChunk)/16 != (before/wire.MaxOTAChunk)/16 {
		n.notifyOTA(n.cfg.Now())
	}
}

func (n *Node) notifyOTA(now time.Time) {
	s := n.ota.Status()
	h := n.header(now)
	n.notify(wire.CharOTAControl, wire.AppendOTAStatus(n.pkt[:0], &h, &s))
}

// CentralRejected records that Admit refused a second central, to tell
// the connected one.
func (n *Node) CentralRejected(reason uint32) {
	n.pending = append(n.pending, wire.Event{Code: wire.EventCentralRejected, Arg1: reason})
}

// DeviceInfo returns the value of the Device Info characteristic.
func (n *Node) DeviceInfo(dst []byte) []byte {
	d := wire.DeviceInfo{Serial: n.cfg.Serial, Hardware: n.cfg.Hardware, Protocol: wire.Version, Firmware: n.cfg.Firmware,
		Caps: wire.CapAccel | wire.CapTemp | wire.CapBurst, MaxRateHz: 1000, MaxBurst: uint16(n.cfg.MaxBurst),
		RingCapacity: uint16(n.cfg.RingCapacity)}
	if n.ota != nil {
		d.Caps |= wire.CapOTA
	}
	var h wire.Header
	return wire.AppendDeviceInfo(dst, &h, &d)
}
