// Package ingest is the telemetry pipeline every batch of readings goes
// through, whoever sends it (the HTTP API, the gateway, the demo): validate
// each reading, check that its device is the caller org's, store the batch
// durably, then evaluate alert rules, update presence and publish live
// events.
//
// Storage is the truth. Once InsertReadings returns, the readings are
// acknowledged; a failure after that point (alerts, live bus) is logged and
// counted, never turned into an error that would make a client resend.
package ingest
