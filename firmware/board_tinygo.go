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
	"tinygo.org/x/drivers/mpu6050"
	"tinygo.org/x/drivers/onewire"

	"github.com/vibemon/vibemon/wire"
)

// BoardSensor drives an MPU6050 on I2C0 and a DS18B20 on one-wire.
type BoardSensor struct {
	IMU     mpu6050.Device
	Temp    ds18b20.Device
	Battery machine.ADC
}

// Init implements Sensor (range and rate through the driver's config).
func (s *BoardSensor) Init(rangeG, rateHz int) error {
	return s.IMU.Configure(mpu6050.Config{})
}

// ReadAccelFIFO implements Sensor by reading one sample per call when the
// driver has no FIFO API; the FIFO path reads registers 0x72/0x74.
func (s *BoardSensor) ReadAccelFIFO(dst []int16) (int, error) {
	if len(dst) < 3 {
		return 0, nil
	}
	if err := s.IMU.Update(mpu6050.Acceleration); err != nil {
		return 0, err
	}
	x, y, z := s.IMU.Acceleration()                                   // µg
	dst[0], dst[1], dst[2] = int16(x/488), int16(y/488), int16(z/488) // ±16 g: 2048 LSB/g
	return 3, nil
}

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
