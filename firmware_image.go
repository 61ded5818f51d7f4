package vibemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeviceSettings is what the server wants a node to run: its summary
// interval, accelerometer range, sample rate and window (the node's
// SetInterval and SetRanges commands), and the firmware image it should be
// updated to. Zero fields are not managed: the node keeps what it has. The
// gateway applies them; the server wins over what a node reports.
type DeviceSettings struct {
	DeviceID int64 `json:"device_id"`
	// IntervalS is the seconds between summaries, 1..65535; 0 unmanaged.
	IntervalS int `json:"interval_s"`
	// RangeG (2, 4, 8, 16), SampleRateHz (10..1000) and Window (a power of
	// two 256..4096) go to the node in one command: all three set, or all
	// three 0 (unmanaged).
	RangeG       int `json:"range_g"`
	SampleRateHz int `json:"sample_rate_hz"`
	Window       int `json:"window"`
	// TargetFirmwareID is the firmware image the device should run; 0 none.
	TargetFirmwareID int64 `json:"target_firmware_id"`
	// BurstEveryS is how often (seconds, 10..604800) the gateway asks the
	// node for a raw burst (the trigger); BurstFrames is the burst's size
	// in frames per axis (256..65535; the node caps it at its own maximum,
	// 4096 on the reference board). 0 leaves each to the gateway's
	// --burst-every / --burst-frames.
	BurstEveryS int       `json:"burst_every_s"`
	BurstFrames int       `json:"burst_frames"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// MaxBurstEveryS is the longest burst interval a device can be given: a
// week.
const MaxBurstEveryS = 7 * 24 * 3600

// Validate checks the settings against what the node's commands accept.
func (s *DeviceSettings) Validate() error {
	set := 0
	for _, v := range []int{s.RangeG, s.SampleRateHz, s.Window} {
		if v != 0 {
			set++
		}
	}
	switch {
	case s.IntervalS < 0 || s.IntervalS > 65535:
		return Errorf(EINVALID, "interval_s must be 1..65535 seconds, or 0 to leave the node's.")
	case set != 0 && set != 3:
		return Errorf(EINVALID, "range_g, sample_rate_hz and window go to the node together: set all three or none.")
	case set == 3 && s.RangeG != 2 && s.RangeG != 4 && s.RangeG != 8 && s.RangeG != 16:
		return Errorf(EINVALID, "range_g must be 2, 4, 8 or 16.")
	case set == 3 && (s.SampleRateHz < 10 || s.SampleRateHz > 1000):
		return Errorf(EINVALID, "sample_rate_hz must be 10..1000.")
	case set == 3 && (s.Window < 256 || s.Window > 4096 || s.Window&(s.Window-1) != 0):
		return Errorf(EINVALID, "window must be a power of two from 256 to 4096.")
	case s.TargetFirmwareID < 0:
		return Errorf(EINVALID, "target_firmware_id must be a firmware id or 0.")
	case s.BurstEveryS != 0 && (s.BurstEveryS < 10 || s.BurstEveryS > MaxBurstEveryS):
		return Errorf(EINVALID, "burst_every_s must be 10..%d seconds (a week), or 0 for the gateway's --burst-every; got %d.", MaxBurstEveryS, s.BurstEveryS)
	case s.BurstFrames != 0 && (s.BurstFrames < 256 || s.BurstFrames > 65535):
		return Errorf(EINVALID, "burst_frames must be 256..65535 frames (the server stores bursts of at least 256 samples per axis), or 0 for the gateway's --burst-frames; got %d.", s.BurstFrames)
	case s.BurstEveryS != 0 && s.BurstFrames != 0 && s.BurstFrames >= s.BurstEveryS*1000:
		return Errorf(EINVALID, "a burst of %d frames takes %.1f s at 1 kHz, longer than burst_every_s (%d s): the next request would cut it off; ask for fewer frames or a longer interval.", s.BurstFrames, float64(s.BurstFrames)/1000, s.BurstEveryS)
	}
	return nil
}

// MaxFirmwareBytes bounds a firmware image: the largest ESP32 OTA slot of
// a 4 MB flash is under 2 MiB; 4 MiB leaves room. Images are stored in
// the database (a BLOB / bytea column), so this bound also bounds a row.
const MaxFirmwareBytes = 4 << 20

// Firmware hardware names, as in the node's DeviceInfo.
var firmwareHardware = map[string]uint8{"esp32c3": 1, "esp32s3": 2, "sim": 255}

// HardwareCode returns the DeviceInfo hardware code of a firmware hardware
// name ("esp32c3", "esp32s3", "sim"); false for another name.
func HardwareCode(name string) (uint8, bool) {
	c, ok := firmwareHardware[name]
	return c, ok
}

// FirmwareImage is a signed node firmware an admin uploaded. Data is the
// image; it is loaded only by GetFirmware with data.
type FirmwareImage struct {
	ID    int64 `json:"id"`
	OrgID int64 `json:"org_id"`
	// Version is "major.minor.patch", each 0..255 (the node's 3 bytes).
	Version string `json:"version"`
	// Hardware is "esp32c3", "esp32s3" or "sim".
	Hardware string `json:"hardware"`
	Size     int64  `json:"size"`
	// SHA256 is the image's digest (hex), computed by the server.
	SHA256 string `json:"sha256"`
	// Signature is the Ed25519 signature of the digest (hex, 64 bytes);
	// the node checks it against its release key.
	Signature string    `json:"signature"`
	Notes     string    `json:"notes"`
	CreatedAt time.Time `json:"created_at"`
	Data      []byte    `json:"-"`
	// External: the image's bytes are kept in a BlobStore (under
	// FirmwareBlobKey) and the store keeps only the rest; its Data is
	// then empty (BlobFirmwareStore fills it).
	External bool `json:"-"`
}

// StoredData is what a store keeps in the image's data column: the bytes,
// or none (not NULL) when External.
func (f *FirmwareImage) StoredData() []byte {
	if f.External || f.Data == nil {
		return []byte{}
	}
	return f.Data
}

// ParseVersion parses "major.minor.patch" with each part 0..255.
func ParseVersion(v string) ([3]uint8, error) {
	var out [3]uint8
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, Errorf(EINVALID, "version must be major.minor.patch, such as 1.2.0.")
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return out, Errorf(EINVALID, "version must be major.minor.patch with each part 0..255.")
		}
		out[i] = uint8(n)
	}
	return out, nil
}

// Prepare validates f, normalizes Version and computes Size and SHA256
// from Data. An External image without Data keeps the Size and SHA256 it
// has (computed by the Prepare before its bytes went to the BlobStore).
func (f *FirmwareImage) Prepare() error {
	v, err := ParseVersion(f.Version)
	if err != nil {
		return err
	}
	f.Version = FormatVersion(v) // "01.2.3" is 1.2.3, as the node reports it
	if _, ok := HardwareCode(f.Hardware); !ok {
		return Errorf(EINVALID, "hardware must be esp32c3, esp32s3 or sim.")
	}
	external := f.External && len(f.Data) == 0 // bytes already in a BlobStore
	if external {
		if f.Size < 1 || f.Size > MaxFirmwareBytes {
			return Errorf(EINVALID, "the image must hold 1..%d bytes.", MaxFirmwareBytes)
		}
		if d, err := hex.DecodeString(f.SHA256); err != nil || len(d) != sha256.Size {
			return Errorf(EINVALID, "an image kept in blob storage needs its SHA-256 (hex).")
		}
	} else if len(f.Data) == 0 || len(f.Data) > MaxFirmwareBytes {
		return Errorf(EINVALID, "the image must hold 1..%d bytes.", MaxFirmwareBytes)
	}
	sig, err := hex.DecodeString(f.Signature)
	if err != nil || len(sig) != 64 {
		return Errorf(EINVALID, "signature must be the 64-byte Ed25519 signature of the image's SHA-256, in hex (firmware/README.md says how to sign).")
	}
	if len(f.Notes) > 2000 {
		return Errorf(EINVALID, "notes are longer than 2000 characters.")
	}
	f.Signature = strings.ToLower(f.Signature)
	if external {
		f.SHA256 = strings.ToLower(f.SHA256)
		return nil
	}
	sum := sha256.Sum256(f.Data)
	f.SHA256, f.Size, f.External = hex.EncodeToString(sum[:]), int64(len(f.Data)), false
	return nil
}

// OTA states a gateway reports.
const (
	OTAStateDownloading  = "downloading"  // the gateway fetches the image from the server
	OTAStateTransferring = "transferring" // chunks go to the node
	OTAStateVerifying    = "verifying"    // the node checks the digest and signature
	OTAStateRebooting    = "rebooting"    // verified; the node boots the image on trial
	OTAStateDone         = "done"         // the node runs the target version
	OTAStateFailed       = "failed"       // Error says why
)

// OTAStatus is a device's firmware update progress as its gateway last
// reported it.
type OTAStatus struct {
	DeviceID   int64     `json:"device_id"`
	FirmwareID int64     `json:"firmware_id"`
	Version    string    `json:"version"`
	State      string    `json:"state"`
	BytesDone  int64     `json:"bytes_done"`
	BytesTotal int64     `json:"bytes_total"`
	Error      string    `json:"error"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Validate checks a reported status.
func (s *OTAStatus) Validate() error {
	switch s.State {
	case OTAStateDownloading, OTAStateTransferring, OTAStateVerifying, OTAStateRebooting, OTAStateDone, OTAStateFailed:
	default:
		return Errorf(EINVALID, "state must be downloading, transferring, verifying, rebooting, done or failed.")
	}
	switch {
	case s.BytesDone < 0 || s.BytesTotal < 0 || s.BytesTotal > MaxFirmwareBytes || s.BytesDone > s.BytesTotal:
		return Errorf(EINVALID, "bytes_done must be 0..bytes_total, bytes_total 0..%d.", MaxFirmwareBytes)
	case len(s.Error) > 500 || len(s.Version) > 32:
		return Errorf(EINVALID, "error (500) or version (32) is too long.")
	case s.FirmwareID < 0:
		return Errorf(EINVALID, "firmware_id must be an id or 0.")
	}
	return nil
}

// FirmwareStore keeps device settings, firmware images and OTA progress;
// every method is scoped to an org.
type FirmwareStore interface {
	// GetDeviceSettings returns the device's settings (all zero when none
	// were set); ENOTFOUND when deviceID is not a device of orgID.
	GetDeviceSettings(ctx context.Context, orgID, deviceID int64) (*DeviceSettings, error)
	// PutDeviceSettings replaces them; ENOTFOUND as GetDeviceSettings,
	// EINVALID when the target firmware is not an image of the org.
	PutDeviceSettings(ctx context.Context, orgID int64, s *DeviceSettings) error
	// CreateFirmware stores f (Prepare first); ECONFLICT when the org has
	// the version for the hardware already.
	CreateFirmware(ctx context.Context, f *FirmwareImage) error
	// ListFirmware returns the org's images without their data, newest first.
	ListFirmware(ctx context.Context, orgID int64) ([]*FirmwareImage, error)
	// GetFirmware returns one image, with its data when withData;
	// ENOTFOUND when id is not an image of orgID.
	GetFirmware(ctx context.Context, orgID, id int64, withData bool) (*FirmwareImage, error)
	// PutOTAStatus records the device's latest OTA progress; ENOTFOUND as
	// GetDeviceSettings.
	PutOTAStatus(ctx context.Context, orgID int64, s *OTAStatus) error
	// GetOTAStatus returns it; ENOTFOUND when the device is not the org's
	// or nothing was reported.
	GetOTAStatus(ctx context.Context, orgID, deviceID int64) (*OTAStatus, error)
}

// FormatVersion formats a node's 3 version bytes.
func FormatVersion(v [3]uint8) string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }
