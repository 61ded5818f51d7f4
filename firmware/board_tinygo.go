//go:build tinygo

package firmware

// Board glue for ESP32-C3/S3 under TinyGo. It cannot be compiled in the
// project's CI (no TinyGo toolchain); keep it a thin adapter and keep
// every decision in the portable core. Pins: see README.md.

import (
	"machine"
	"time"

	"tinygo.org/x/bluetooth"
	"tinygo.org/x/drivers/ds18b20"

	"github.com/vibemon/vibemon/wire"
)

// BoardSensor drives an MPU6050 on I2C0 and a DS18B20 on one-wire. The
// MPU6050 goes through the portable MPU6050 (mpu6050.go: FIFO setup,
// draining every whole frame per call, overflow handling), which is
// tested with go test; here it only gets the bus: IMU.Bus = machine.I2C0
// after I2C0.Configure(machine.I2CConfig{Frequency: 400 * machine.KHz,
// SDA: ..., SCL: ...}) with the pins of README.md. The node's Config
// should set LowPassHz: MPU6050LowPassHz.
type BoardSensor struct {
	IMU     MPU6050
	Temp    ds18b20.Device
	Battery machine.ADC
}

var _ RegisterBus = (*machine.I2C)(nil)

// Init implements Sensor.
func (s *BoardSensor) Init(rangeG, rateHz int) error { return s.IMU.Init(rangeG, rateHz) }

// ReadAccelFIFO implements Sensor: every whole frame waiting in the FIFO
// (up to len(dst)/3), or ErrFIFOOverflow.
func (s *BoardSensor) ReadAccelFIFO(dst []int16) (int, error) { return s.IMU.ReadFIFO(dst) }

// StartTemperature implements Sensor.
func (s *BoardSensor) StartTemperature() error { s.Temp.RequestTemperature(nil); return nil }

// ReadTemperature implements Sensor.
func (s *BoardSensor) ReadTemperature() (float32, error) {
	mc, err := s.Temp.ReadTemperature(nil)
	return float32(mc) / 1000, err
}

// BatteryVolts implements Sensor: a 1:2 divider on the ADC pin.
func (s *BoardSensor) BatteryVolts() (float32, error) {
	return float32(s.Battery.Get()) / 65535 * 3.3 * 2, nil
}

// BoardLink is the BLE peripheral over tinygo.org/x/bluetooth.
type BoardLink struct {
	Adapter   *bluetooth.Adapter
	Telemetry bluetooth.Characteristic
	OTA       bluetooth.Characteristic
	connected bool
	bonded    bool
}

func (l *BoardLink) Connected() bool { return l.connected }
func (l *BoardLink) MTU() int        { return wire.MinMTUPayload } // safe default until MTU exchange is exposed
func (l *BoardLink) Bonded() bool    { return l.bonded }
func (l *BoardLink) Notify(c wire.Char, b []byte) error {
	if c == wire.CharOTAControl {
		_, err := l.OTA.Write(b)
		return err
	}
	_, err := l.Telemetry.Write(b)
	return err
}
func (l *BoardLink) Advertise(m AdvMode) error {
	adv := l.Adapter.DefaultAdvertisement()
	if m == AdvOff {
		return adv.Stop()
	}
	return adv.Start()
}

// Run is the board's main loop: Step, then sleep until the node's next
// wake-up (BLE callbacks run in between).
func Run(n *Node) {
	for {
		next := n.Step()
		if n.State() == Rebooting {
			machine.CPUReset()
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(min(d, 100*time.Millisecond))
		}
	}
}
