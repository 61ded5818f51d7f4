package firmware_test

import (
	"errors"
	"math"
	"testing"
	"time"

	fw "github.com/vibemon/vibemon/firmware"
	"github.com/vibemon/vibemon/wire"
)

// mpuChip is a register-level model of an MPU6050's accelerometer FIFO:
// frames go in as 6 big-endian bytes while USER_CTRL and FIFO_EN enable
// it; past 1024 bytes the oldest bytes are overwritten (so the frames no
// longer start where a read begins) and INT_STATUS flags the overflow;
// FIFO_R_W gives the next byte on every read; FIFO reset empties it.
type mpuChip struct {
	regs    [256]uint8
	fifo    []byte
	status  uint8
	reads   int // FIFO_R_W reads
	maxRead int
	frame   int // frames produced (the signal's index)
}

func (c *mpuChip) WriteRegister(addr, r uint8, buf []byte) error {
	if addr != 0x68 {
		return errors.New("i2c: no ack")
	}
	c.regs[r] = buf[0]
	if r == 0x6A && buf[0]&0x04 != 0 {
		c.fifo = c.fifo[:0]
	}
	return nil
}

func (c *mpuChip) ReadRegister(addr, r uint8, buf []byte) error {
	if addr != 0x68 {
		return errors.New("i2c: no ack")
	}
	switch r {
	case 0x3A:
		buf[0], c.status = c.status, 0
	case 0x72:
		buf[0], buf[1] = byte(len(c.fifo)>>8), byte(len(c.fifo))
	case 0x74:
		if len(buf) > len(c.fifo) {
			return errors.New("test: read past the FIFO")
		}
		copy(buf, c.fifo)
		c.fifo = c.fifo[len(buf):]
		c.reads++
		c.maxRead = max(c.maxRead, len(buf))
	default:
		buf[0] = c.regs[r]
	}
	return nil
}

// sample is frame k of a 0.1 g, 25 Hz sine on x at 1 kHz and 1 g on z, in
// counts of the configured range.
func (c *mpuChip) sample(k int) (x, y, z int16) {
	perG := 16384.0 / float64(int(1)<<(c.regs[0x1C]>>3&3))
	return int16(0.1 * perG * math.Sin(2*math.Pi*25*float64(k)/1000)), int16(-k % 1000), int16(perG)
}

// produce lets n frames of the signal into the FIFO.
func (c *mpuChip) produce(n int) {
	for range n {
		x, y, z := c.sample(c.frame)
		c.frame++
		if c.regs[0x6A]&0x40 == 0 || c.regs[0x23]&0x08 == 0 {
			continue
		}
		c.fifo = append(c.fifo, byte(uint16(x)>>8), byte(x), byte(uint16(y)>>8), byte(y), byte(uint16(z)>>8), byte(z))
		if over := len(c.fifo) - 1024; over > 0 {
			c.fifo = c.fifo[over:]
			if c.regs[0x38]&0x10 != 0 {
				c.status |= 0x10
			}
		}
	}
}

func TestMPU6050InitConfiguresTheFIFO(t *testing.T) {
	c := &mpuChip{}
	m := &fw.MPU6050{Bus: c}
	if err := m.Init(8, 1000); err != nil {
		t.Fatal(err)
	}
	for r, want := range map[uint8]uint8{0x6B: 0x01, 0x1A: 0, 0x19: 7, 0x1C: 2 << 3, 0x23: 0x08, 0x6A: 0x40, 0x38: 0x10} {
		if c.regs[r] != want {
			t.Errorf("register %#x = %#x, want %#x", r, c.regs[r], want)
		}
	}
	if err := m.Init(16, 20); err != nil || c.regs[0x1A] != 1 || c.regs[0x19] != 49 {
		t.Errorf("20 Hz: CONFIG %#x, SMPLRT_DIV %d, %v; want DLPF 1 and 1 kHz / 50", c.regs[0x1A], c.regs[0x19], err)
	}
	for _, bad := range [][2]int{{3, 1000}, {16, 5}, {16, 2000}} {
		if err := m.Init(bad[0], bad[1]); err == nil {
			t.Errorf("Init(%d g, %d Hz) accepted", bad[0], bad[1])
		}
	}
	for rate, want := range map[int]float64{1000: 1000, 500: 500, 250: 250, 100: 100, 10: 10, 25: 25, 300: 8000.0 / 27} {
		if got := fw.MPU6050Rate(rate); math.Abs(got-want) > 1e-9 {
			t.Errorf("MPU6050Rate(%d) = %g, want %g", rate, got, want)
		}
	}
	if err := (&fw.MPU6050{Bus: c, Addr: 0x69}).Init(2, 1000); err == nil {
		t.Error("Init at an address nobody answers succeeded")
	}
}

// A read drains every whole frame waiting (not one sample per call), in
// order, in as many I2C reads as its buffer needs, and stops at dst's size.
func TestMPU6050DrainsTheFIFO(t *testing.T) {
	c := &mpuChip{}
	m := &fw.MPU6050{Bus: c}
	if err := m.Init(16, 1000); err != nil {
		t.Fatal(err)
	}
	c.produce(170) // full: 1020 bytes
	dst := make([]int16, 3*170)
	n, err := m.ReadFIFO(dst)
	if err != nil || n != 3*170 {
		t.Fatalf("read %d values, %v; want all 170 frames", n, err)
	}
	for k := range 170 {
		x, y, z := c.sample(k)
		if dst[3*k] != x || dst[3*k+1] != y || dst[3*k+2] != z {
			t.Fatalf("frame %d = %v, want %d %d %d", k, dst[3*k:3*k+3], x, y, z)
		}
	}
	if c.maxRead > 96 || c.reads < 11 {
		t.Errorf("%d reads of at most %d bytes: want reads that fit the buffer", c.reads, c.maxRead)
	}
	c.produce(100)
	if n, err := m.ReadFIFO(dst[:3*40]); n != 3*40 || err != nil {
		t.Fatalf("read into 40 frames: %d, %v", n, err)
	}
	if n, err := m.ReadFIFO(dst); n != 3*60 || err != nil {
		t.Fatalf("the rest: %d, %v; want 60 frames", n, err)
	}
	if x, _, _ := c.sample(170 + 40); dst[0] != x {
		t.Errorf("the rest starts with %d, want frame 210's %d", dst[0], x)
	}
	if n, err := m.ReadFIFO(dst); n != 0 || err != nil {
		t.Errorf("empty FIFO: %d, %v", n, err)
	}
}

// After an overflow the frames no longer start where a read begins: the
// FIFO is reset, the read says so, and the next frames are read whole.
func TestMPU6050ResetsAfterAnOverflow(t *testing.T) {
	for _, withInt := range []bool{true, false} {
		c := &mpuChip{}
		m := &fw.MPU6050{Bus: c}
		if err := m.Init(16, 1000); err != nil {
			t.Fatal(err)
		}
		if !withInt {
			c.regs[0x38] = 0 // no INT_STATUS flag: the count alone tells
		}
		c.produce(171)
		dst := make([]int16, 3*170)
		if _, err := m.ReadFIFO(dst); !errors.Is(err, fw.ErrFIFOOverflow) {
			t.Fatalf("interrupt %v: err = %v after 171 frames, want ErrFIFOOverflow", withInt, err)
		}
		if len(c.fifo) != 0 || m.Overflows != 1 {
			t.Errorf("after the overflow: %d bytes in the FIFO, %d overflows; want a reset FIFO and 1", len(c.fifo), m.Overflows)
		}
		c.produce(5)
		n, err := m.ReadFIFO(dst)
		x, y, z := c.sample(171)
		if n != 15 || err != nil || dst[0] != x || dst[1] != y || dst[2] != z {
			t.Errorf("after the reset: %d values %v, %v; want frame 171 first", n, dst[:3], err)
		}
	}
}

// chipSensor is the board's Sensor as board_tinygo.go builds it, with the
// chip model producing frames at 1 kHz of the rig's clock. stall makes
// the chip produce a backlog, as a drain held up by the radio would.
type chipSensor struct {
	clk   *clock
	chip  *mpuChip
	mpu   *fw.MPU6050
	last  time.Time
	stall time.Duration
}

func (s *chipSensor) Init(rangeG, rateHz int) error {
	s.last = s.clk.t
	return s.mpu.Init(rangeG, rateHz)
}

func (s *chipSensor) ReadAccelFIFO(dst []int16) (int, error) {
	due := int(s.clk.t.Sub(s.last) / time.Millisecond)
	s.last = s.last.Add(time.Duration(due) * time.Millisecond)
	s.chip.produce(due + int(s.stall/time.Millisecond))
	s.stall = 0
	return s.mpu.ReadFIFO(dst)
}
func (s *chipSensor) StartTemperature() error           { return nil }
func (s *chipSensor) ReadTemperature() (float32, error) { return 30, nil }
func (s *chipSensor) BatteryVolts() (float32, error)    { return 3.9, nil }

// TestNodeDrainsTheMPU6050AndDiscardsAnOverflowedWindow: a node on the
// chip model measures the sine right (every frame of a window read, none
// twice); when a drain comes too late and the FIFO overflowed, the window
// is measured again rather than summarised with a hole, and the gateway
// hears an EventFIFOOverflow; the node stays up.
func TestNodeDrainsTheMPU6050AndDiscardsAnOverflowedWindow(t *testing.T) {
	r := newRig(t, fw.Config{Interval: 10 * time.Second, RangeG: 16, LowPassHz: fw.MPU6050LowPassHz})
	chip := &mpuChip{}
	sen := &chipSensor{clk: r.clk, chip: chip, mpu: &fw.MPU6050{Bus: chip}}
	r.hw.Sensor = sen
	r.boot(t, wire.ResetPowerOn)
	r.link.connected = true
	r.run(r.clk.t.Add(time.Second))
	r.command(t, wire.Command{Op: wire.OpStartStreaming})
	r.run(r.clk.t.Add(25 * time.Second))
	got := r.link.take(t)
	if len(got[wire.TypeSummary]) < 2 {
		t.Fatalf("%d summaries in 25 s at 10 s", len(got[wire.TypeSummary]))
	}
	var h wire.Header
	var s wire.Summary
	p, _ := wire.DecodeHeader(got[wire.TypeSummary][1], &h)
	if err := wire.DecodeSummary(p, &s); err != nil {
		t.Fatal(err)
	}
	if v := s.Values[wire.AccRMSX]; math.Abs(float64(v)-0.0707) > 0.002 {
		t.Errorf("acc_rms_x = %g g from the chip's FIFO, want 0.0707", v)
	}
	if s.VelBandHi != fw.MPU6050LowPassHz {
		t.Errorf("velocity band up to %d Hz, want the MPU6050's 260 Hz filter", s.VelBandHi)
	}
	// A drain held up for 300 ms in the middle of a window.
	// The node reads the FIFO only while it captures a window.
	for reads := chip.reads; chip.reads == reads; {
		r.run(r.clk.t.Add(10 * time.Millisecond))
	}
	r.run(r.clk.t.Add(300 * time.Millisecond))
	sen.stall = 300 * time.Millisecond
	r.run(r.clk.t.Add(15 * time.Second))
	got = r.link.take(t)
	overflows := 0
	for _, p := range got[wire.TypeEvent] {
		var ev wire.Event
		pl, _ := wire.DecodeHeader(p, &h)
		if wire.DecodeEvent(pl, &ev) == nil && ev.Code == wire.EventFIFOOverflow {
			overflows += int(ev.Arg1)
		}
	}
	// (The FIFO also overflows while the node idles between windows; the
	// read that starts a window throws that away, which is no loss.)
	if overflows != 1 {
		t.Errorf("EventFIFOOverflow reported %d discarded windows, want 1", overflows)
	}
	if len(got[wire.TypeSummary]) == 0 {
		t.Fatalf("no summary after the overflow: the window was not measured again")
	}
	if st := r.node.State(); st != fw.Streaming {
		t.Errorf("state %s after an overflow, want streaming (it is not a sensor fault)", st)
	}
}

// FuzzMPU6050ReadFIFO: whatever the chip's FIFO holds and whatever its
// status says, a read never panics, writes whole frames only, and never
// more than dst holds.
func FuzzMPU6050ReadFIFO(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}, uint8(0), 170)
	f.Add(make([]byte, 1021), uint8(0x10), 10)
	f.Add([]byte{1, 2, 3, 4, 5}, uint8(0), 0)
	f.Fuzz(func(t *testing.T, fifo []byte, status uint8, frames int) {
		if len(fifo) > 1024 || frames < 0 || frames > 200 {
			t.Skip()
		}
		c := &mpuChip{status: status}
		m := &fw.MPU6050{Bus: c}
		if err := m.Init(16, 1000); err != nil {
			t.Fatal(err)
		}
		c.fifo = append(c.fifo, fifo...)
		dst := make([]int16, 3*frames)
		n, err := m.ReadFIFO(dst)
		if n%3 != 0 || n > len(dst) || n > len(fifo)/6*3 {
			t.Fatalf("ReadFIFO wrote %d values from %d bytes into %d: %v", n, len(fifo), len(dst), err)
		}
		if err == nil && n != 3*min(frames, len(fifo)/6) {
			t.Fatalf("ReadFIFO wrote %d values, want every whole frame that fits (%d)", n, 3*min(frames, len(fifo)/6))
		}
	})
}
