// Package alerting evaluates alert rules against new readings and opens,
// updates and resolves alerts in the store.
//
// A rule fires for a device when a reading breaches its threshold and clears
// when a later reading is back past its clear level (hysteresis). There is
// at most one unresolved alert per (rule, device): repeated breaches update
// it, never duplicate it.
//
// Evaluate judges the rules watched on readings as they arrive: threshold
// rules (one metric, or several Conditions combined by Match) and iso_zone
// rules (the highest velocity axis against the asset's ISO zone boundary or
// baselined alarm/trip level, from Config.Levels, cached for LevelsTTL).
// Observe runs one observation of a periodic rule (offline, anomaly,
// forecast; package jobs makes them with OfflineObservation,
// AnomalyObservation and ForecastObservation) through the same state
// machine, maintenance windows included.
package alerting
