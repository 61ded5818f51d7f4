package vibemon

import (
	"fmt"
	"testing"
)

// FuzzParseVersion: a version from the API either parses to three bytes
// that format back to the same text (no leading zeros or signs lost) or
// is refused as invalid; it never panics.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.2.3", "0.0.0", "255.255.255", "256.0.0", "1.2", "1.2.3.4", "-1.0.0", "+1.0.0", "01.2.3", "", "a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ParseVersion(%q) error %v is not invalid", s, err)
			}
			return
		}
		back := FormatVersion(v)
		again, err := ParseVersion(back)
		if err != nil || again != v {
			t.Fatalf("ParseVersion(%q) = %v, formats to %q which parses to %v, %v", s, v, back, again, err)
		}
	})
}

func TestDeviceSettingsValidate(t *testing.T) {
	for _, c := range []struct {
		s  DeviceSettings
		ok bool
	}{
		{DeviceSettings{}, true},
		{DeviceSettings{IntervalS: 1}, true},
		{DeviceSettings{IntervalS: 65535, RangeG: 16, SampleRateHz: 1000, Window: 4096}, true},
		{DeviceSettings{IntervalS: 65536}, false},
		{DeviceSettings{RangeG: 16, SampleRateHz: 1000}, false},
		{DeviceSettings{RangeG: 16, SampleRateHz: 9, Window: 256}, false},
		{DeviceSettings{RangeG: 16, SampleRateHz: 10, Window: 128}, false},
		{DeviceSettings{TargetFirmwareID: -1}, false},
		{DeviceSettings{BurstEveryS: 10, BurstFrames: 256}, true},
		{DeviceSettings{BurstEveryS: MaxBurstEveryS, BurstFrames: 65535}, true},
		{DeviceSettings{BurstEveryS: 9}, false},
		{DeviceSettings{BurstEveryS: MaxBurstEveryS + 1}, false},
		{DeviceSettings{BurstEveryS: -1}, false},
		{DeviceSettings{BurstFrames: 255}, false},
		{DeviceSettings{BurstFrames: 65536}, false},
		{DeviceSettings{BurstEveryS: 10, BurstFrames: 10000}, false}, // 10 s of capture every 10 s
	} {
		t.Run(fmt.Sprintf("%+v", c.s), func(t *testing.T) {
			if err := c.s.Validate(); (err == nil) != c.ok {
				t.Errorf("Validate = %v, want ok=%v", err, c.ok)
			}
		})
	}
}
