// Package analysis is VibeMon's server-side analytics service: it turns a
// stored raw burst into the analysis document served by
// GET /devices/{id}/waveforms/{wid} (features, reduced spectra, fault
// frequency markers, diagnosis), trains each device's anomaly model on its
// baseline readings, and sums up an asset's health (ISO 10816-3 zone with
// alarm and trip levels, anomaly score, latest diagnosis, trend and
// time-to-alarm forecast) for GET /assets/{id}/health.
//
// The physics is in package dsp and the statistics in package anomaly; this
// package only loads rows from a vibemon.Store, picks the options the asset
// implies and shapes the results for the API. It has no goroutines: the jobs
// package runs it.
package analysis
