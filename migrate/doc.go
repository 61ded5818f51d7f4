// Package migrate copies one VibeMon store into another: every table of
// Tables (orgs, users with password hashes, devices, API keys,
// notification settings, webhooks, firmware, alerts, waveforms, raw
// readings, ...), keeping ids. It takes the stores as the small Source and
// Target interfaces (sqlite.Store is a Source, postgres.Store a Target), so
// it imports no adapter.
//
// Readings go through the target's InsertReadings, which rebuilds rollups
// and is idempotent on (device, seq); the other tables go through Import
// methods that keep ids and skip rows already there. Progress is kept in a
// small JSON state file, so an interrupted copy run again continues where
// it stopped, and the copy ends by comparing row counts table by table and
// device by device.
package migrate
