package analysis

import (
	"context"
	"fmt"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/dsp"
)

// The pieces of AssetHealth that alert rules watch (docs/alerts.md, "Rule
// kinds"), computed as GET /assets/{id}/health computes them.

// ISOLevels returns the asset's ISO 10816-3 evaluation: zone boundaries
// from its group and foundation, alarm and trip levels from its baseline,
// and the latest hour's level (Health.ISO). ENOTFOUND when the asset is
// not the org's; EINVALID when its group is not 1 or 2.
func (s *Service) ISOLevels(ctx context.Context, orgID, assetID int64) (ISOHealth, error) {
	asset, err := s.Store.GetAsset(ctx, orgID, assetID)
	if err != nil {
		return ISOHealth{}, fmt.Errorf("iso levels: %w", err)
	}
	devices, err := s.assetDevices(ctx, orgID, assetID)
	if err != nil {
		return ISOHealth{}, fmt.Errorf("iso levels: %w", err)
	}
	limits, err := dsp.ISOLimits(asset.ISOGroup, asset.Foundation == vibemon.FoundationFlexible)
	if err != nil {
		return ISOHealth{}, fmt.Errorf("iso levels: %w", vibemon.Errorf(vibemon.EINVALID, "The asset's ISO group %d is not 1 or 2.", asset.ISOGroup))
	}
	iso := ISOHealth{Group: asset.ISOGroup, Foundation: string(asset.Foundation), Boundaries: [3]float64{limits.AB, limits.BC, limits.CD}}
	if err := s.isoHealth(ctx, orgID, devices, limits, s.now().UTC(), &iso); err != nil {
		return ISOHealth{}, fmt.Errorf("iso levels: %w", err)
	}
	return iso, nil
}

// DeviceAnomaly returns one device's anomaly score over its latest minutes
// against its own baseline model (Status "learning" and no Score while it
// has no model or no recent readings), as AssetHealth scores each device.
func (s *Service) DeviceAnomaly(ctx context.Context, orgID int64, d *vibemon.Device) (AnomalyHealth, error) {
	h, err := s.anomalyHealth(ctx, orgID, []*vibemon.Device{d}, s.now().UTC())
	if err != nil {
		return h, fmt.Errorf("device anomaly: %w", err)
	}
	return h, nil
}

// DeviceTrend returns the trend of one device's daily velocity and when it
// is forecast to reach alarm (nil without readings), as AssetHealth fits
// it for the asset.
func (s *Service) DeviceTrend(ctx context.Context, orgID int64, d *vibemon.Device, alarm float64) (*TrendHealth, error) {
	th, err := s.trend(ctx, orgID, []*vibemon.Device{d}, s.now().UTC(), alarm)
	if err != nil {
		return nil, fmt.Errorf("device trend: %w", err)
	}
	return th, nil
}

func (s *Service) assetDevices(ctx context.Context, orgID, assetID int64) ([]*vibemon.Device, error) {
	all, err := s.Store.ListDevices(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var out []*vibemon.Device
	for _, d := range all {
		if d.AssetID == assetID {
			out = append(out, d)
		}
	}
	return out, nil
}
