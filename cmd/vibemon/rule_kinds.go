package main

import (
	"context"

	"github.com/vibemon/vibemon/alerting"
	"github.com/vibemon/vibemon/analysis"
)

// isoLevels gives the alert engine's iso_zone rules the ISO levels of the
// asset health page (zone boundaries, baselined alarm and trip).
func isoLevels(svc *analysis.Service) func(ctx context.Context, orgID, assetID int64) (alerting.ISOLevels, error) {
	return func(ctx context.Context, orgID, assetID int64) (alerting.ISOLevels, error) {
		iso, err := svc.ISOLevels(ctx, orgID, assetID)
		if err != nil {
			return alerting.ISOLevels{}, err
		}
		return alerting.ISOLevels{BC: iso.Boundaries[1], CD: iso.Boundaries[2], Alarm: iso.Alarm, Trip: iso.Trip}, nil
	}
}
