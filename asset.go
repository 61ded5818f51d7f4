package vibemon

import (
	"context"
	"strings"
	"time"
)

// Foundation is how a machine is mounted, per ISO 10816-3.
type Foundation string

// Foundations.
const (
	FoundationRigid    Foundation = "rigid"
	FoundationFlexible Foundation = "flexible"
)

// Asset is a machine under monitoring: a motor, pump, fan, compressor.
type Asset struct {
	ID    int64  `json:"id"`
	OrgID int64  `json:"org_id"`
	Name  string `json:"name"`
	// Type is free text such as "motor", "pump", "fan".
	Type string `json:"type"`
	// RPM is the nominal shaft speed, 0 when unknown.
	RPM float64 `json:"rpm"`
	// ISOGroup is the ISO 10816-3 machine group: 1 (large, 300 kW to
	// 50 MW) or 2 (medium, 15 to 300 kW).
	ISOGroup   int        `json:"iso_group"`
	Foundation Foundation `json:"foundation"`
	// Bearing is a catalogue designation such as "6205", "" when unknown.
	Bearing   string    `json:"bearing"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the fields a user sets and names the one that is wrong.
func (a *Asset) Validate() error {
	a.Name = strings.TrimSpace(a.Name)
	switch {
	case a.Name == "":
		return Errorf(EINVALID, "name is required.")
	case len(a.Name) > 200:
		return Errorf(EINVALID, "name is longer than 200 characters.")
	case a.RPM < 0 || a.RPM > 100000:
		return Errorf(EINVALID, "rpm must be between 0 and 100000.")
	case a.ISOGroup != 1 && a.ISOGroup != 2:
		return Errorf(EINVALID, "iso_group must be 1 or 2.")
	case a.Foundation != FoundationRigid && a.Foundation != FoundationFlexible:
		return Errorf(EINVALID, "foundation must be \"rigid\" or \"flexible\".")
	case len(a.Type) > 100 || len(a.Bearing) > 100:
		return Errorf(EINVALID, "type and bearing must be at most 100 characters.")
	}
	return nil
}

// Device is a sensor node, identified in its org by its serial (or MAC).
type Device struct {
	ID              int64      `json:"id"`
	OrgID           int64      `json:"org_id"`
	AssetID         int64      `json:"asset_id"` // 0 when not attached
	Serial          string     `json:"serial"`
	Name            string     `json:"name"`
	FirmwareVersion string     `json:"firmware_version"`
	LastSeenAt      *time.Time `json:"last_seen_at"`
	BatteryV        *float64   `json:"battery_v"`
	CreatedAt       time.Time  `json:"created_at"`
}

// Validate checks the fields a user sets.
func (d *Device) Validate() error {
	d.Serial = strings.TrimSpace(d.Serial)
	switch {
	case d.Serial == "":
		return Errorf(EINVALID, "serial is required.")
	case len(d.Serial) > 64:
		return Errorf(EINVALID, "serial is longer than 64 characters.")
	case len(d.Name) > 200 || len(d.FirmwareVersion) > 64:
		return Errorf(EINVALID, "name (200) or firmware_version (64) is too long.")
	case d.AssetID < 0:
		return Errorf(EINVALID, "asset_id must be a positive id or 0.")
	}
	return nil
}

// AssetStore keeps assets; every method is scoped to an org.
type AssetStore interface {
	CreateAsset(ctx context.Context, a *Asset) error
	// GetAsset returns ENOTFOUND when id is not an asset of orgID.
	GetAsset(ctx context.Context, orgID, id int64) (*Asset, error)
	ListAssets(ctx context.Context, orgID int64) ([]*Asset, error)
	// UpdateAsset returns ENOTFOUND as GetAsset.
	UpdateAsset(ctx context.Context, a *Asset) error
	// DeleteAsset detaches its devices; ENOTFOUND as GetAsset.
	DeleteAsset(ctx context.Context, orgID, id int64) error
}

// DeviceStore keeps devices; every method is scoped to an org.
type DeviceStore interface {
	// RegisterDevice inserts d, or, when the org already has a device with
	// d.Serial, fills d with the existing one and returns created=false.
	// EINVALID when d.AssetID is not an asset of the org.
	RegisterDevice(ctx context.Context, d *Device) (created bool, err error)
	// GetDevice returns ENOTFOUND when id is not a device of orgID.
	GetDevice(ctx context.Context, orgID, id int64) (*Device, error)
	ListDevices(ctx context.Context, orgID int64) ([]*Device, error)
	// UpdateDevice saves name, asset and firmware version; ENOTFOUND as
	// GetDevice, EINVALID when the asset is not the org's.
	UpdateDevice(ctx context.Context, d *Device) error
	// DeleteDevice removes the device and its readings and alerts.
	DeleteDevice(ctx context.Context, orgID, id int64) error
}
