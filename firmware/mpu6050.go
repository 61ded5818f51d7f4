package firmware

import "errors"

// The MPU6050's accelerometer through its FIFO, portable: the board glue
// (board_tinygo.go) hands it the I2C bus (machine.I2C has ReadRegister and
// WriteRegister), so everything here is tested with go test against a
// register-level model of the chip (mpu6050_test.go). Register numbers
// and bits: InvenSense MPU-6000/MPU-6050 Register Map and Descriptions,
// revision 4.2. Not verified on hardware.

// RegisterBus reads and writes registers of an I2C device, as TinyGo's
// machine.I2C does. A read of n bytes from one register reads n
// consecutive bytes (the MPU6050's FIFO_R_W register gives the next FIFO
// byte on every read instead of advancing).
type RegisterBus interface {
	ReadRegister(addr uint8, r uint8, buf []byte) error
	WriteRegister(addr uint8, r uint8, buf []byte) error
}

// MPU6050 registers and bits used here.
const (
	mpuSmplrtDiv   = 0x19
	mpuConfig      = 0x1A
	mpuAccelConfig = 0x1C
	mpuFIFOEn      = 0x23
	mpuIntEnable   = 0x38
	mpuIntStatus   = 0x3A
	mpuUserCtrl    = 0x6A
	mpuPwrMgmt1    = 0x6B
	mpuFIFOCount   = 0x72 // FIFO_COUNT_H; _L follows
	mpuFIFORW      = 0x74

	mpuAccelFIFOEn = 0x08 // FIFO_EN: accelerometer X, Y, Z into the FIFO
	mpuFIFOOflow   = 0x10 // INT_ENABLE / INT_STATUS: FIFO overflow
	mpuUserFIFOEn  = 0x40 // USER_CTRL: FIFO on
	mpuUserFIFORst = 0x04 // USER_CTRL: FIFO reset
	mpuClockPLLX   = 0x01 // PWR_MGMT_1: PLL with the X gyro, awake
)

// MPU6050FIFOBytes is the FIFO's size: 170 accelerometer frames of 6
// bytes (and 4 bytes that never hold a whole frame).
const MPU6050FIFOBytes = 1024

// MPU6050LowPassHz is the accelerometer bandwidth MPU6050 configures
// from 32 Hz up (DLPF_CFG 0: 260 Hz): the board's Config.LowPassHz, so the
// velocity band does not claim what the filter removed.
const MPU6050LowPassHz = 260

// ErrFIFOOverflow is returned by a Sensor's ReadAccelFIFO when the FIFO
// overflowed since the last read: samples were lost, so the node discards
// the window (or burst) in progress and starts it again, and reports
// EventFIFOOverflow.
var ErrFIFOOverflow = errors.New("firmware: accelerometer FIFO overflowed")

var errMPURange = errors.New("firmware: MPU6050 range must be 2, 4, 8 or 16 g and rate 10..1000 Hz")

// MPU6050 is the accelerometer part of a Sensor over an MPU6050's FIFO.
type MPU6050 struct {
	Bus RegisterBus
	// Addr is the I2C address: 0x68 (AD0 low, the default when 0) or 0x69.
	Addr uint8
	// Overflows counts the FIFO overflows seen (each reset the FIFO).
	Overflows int
	buf       [96]byte // 16 frames per I2C read
}

func (m *MPU6050) addr() uint8 {
	if m.Addr == 0 {
		return 0x68
	}
	return m.Addr
}

func (m *MPU6050) write(r, v uint8) error {
	m.buf[0] = v
	return m.Bus.WriteRegister(m.addr(), r, m.buf[:1])
}

// Init wakes the chip, sets the full scale and the sample rate (a divider
// of the gyro clock: MPU6050Rate says which rate rateHz gets), the
// accelerometer filter, overflow detection, and starts an empty FIFO that
// takes the accelerometer only.
func (m *MPU6050) Init(rangeG, rateHz int) error {
	var afs uint8
	switch rangeG {
	case 2:
		afs = 0
	case 4:
		afs = 1
	case 8:
		afs = 2
	case 16:
		afs = 3
	default:
		return errMPURange
	}
	if rateHz < 10 || rateHz > 1000 {
		return errMPURange
	}
	dlpf, div, _ := mpuTiming(rateHz)
	for _, w := range [...][2]uint8{
		{mpuPwrMgmt1, mpuClockPLLX},
		{mpuConfig, dlpf},
		{mpuSmplrtDiv, div},
		{mpuAccelConfig, afs << 3},
		{mpuIntEnable, mpuFIFOOflow},
		{mpuFIFOEn, mpuAccelFIFOEn},
	} {
		if err := m.write(w[0], w[1]); err != nil {
			return err
		}
	}
	return m.resetFIFO()
}

// mpuTiming picks the filter and divider for rateHz: from 32 Hz up,
// DLPF_CFG 0 (accelerometer 260 Hz, gyro clock 8 kHz: 1000, 800, 500, 400,
// 250, 200, 160, 125, 100 Hz… exactly); below, DLPF_CFG 1 (184 Hz, above
// any Nyquist there; gyro clock 1 kHz: 10, 20, 25 Hz… exactly). Another
// rate gets the nearest one the divider makes.
func mpuTiming(rateHz int) (dlpf, div uint8, actual float64) {
	clock := 8000
	if rateHz < 32 {
		dlpf, clock = 1, 1000
	}
	d := min(max((clock+rateHz/2)/rateHz-1, 0), 255)
	return dlpf, uint8(d), float64(clock) / float64(d+1)
}

// MPU6050Rate is the sample rate Init gives for rateHz.
func MPU6050Rate(rateHz int) float64 { _, _, r := mpuTiming(rateHz); return r }

func (m *MPU6050) resetFIFO() error {
	if err := m.write(mpuUserCtrl, mpuUserFIFORst); err != nil {
		return err
	}
	return m.write(mpuUserCtrl, mpuUserFIFOEn)
}

// ReadFIFO moves the whole frames waiting in the FIFO (at most len(dst)/3)
// into dst as x, y, z counts and returns how many values it wrote. After
// an overflow (INT_STATUS, or more bytes than whole frames fit: the FIFO
// wrapped and its frames no longer start where reads begin) it resets the
// FIFO and returns ErrFIFOOverflow.
func (m *MPU6050) ReadFIFO(dst []int16) (int, error) {
	a := m.addr()
	if err := m.Bus.ReadRegister(a, mpuIntStatus, m.buf[:1]); err != nil { // reading clears it
		return 0, err
	}
	oflow := m.buf[0]&mpuFIFOOflow != 0
	if err := m.Bus.ReadRegister(a, mpuFIFOCount, m.buf[:2]); err != nil {
		return 0, err
	}
	count := int(m.buf[0])<<8 | int(m.buf[1])
	if oflow || count > MPU6050FIFOBytes/6*6 {
		m.Overflows++
		if err := m.resetFIFO(); err != nil {
			return 0, err
		}
		return 0, ErrFIFOOverflow
	}
	frames := min(count/6, len(dst)/3)
	n := 0
	for frames > 0 {
		k := min(frames, len(m.buf)/6)
		b := m.buf[:6*k]
		if err := m.Bus.ReadRegister(a, mpuFIFORW, b); err != nil {
			return n, err
		}
		for i := 0; i < k; i++ { // big-endian X, Y, Z
			f := b[6*i:]
			dst[n] = int16(uint16(f[0])<<8 | uint16(f[1]))
			dst[n+1] = int16(uint16(f[2])<<8 | uint16(f[3]))
			dst[n+2] = int16(uint16(f[4])<<8 | uint16(f[5]))
			n += 3
		}
		frames -= k
	}
	return n, nil
}
