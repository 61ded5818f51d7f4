// Package sim simulates a fleet of monitored machines for the demo and for
// tests: each machine's condition evolves over simulated time (healthy,
// or a fault that starts and grows until the machine is "repaired"), and
// the fleet posts feature summaries through the real HTTP ingest API, as a
// gateway would.
//
// This first model works at the level of features (RMS, peak, crest,
// kurtosis, temperature). The signal-level physics (shaft harmonics,
// bearing impacts, resonances) replaces it without changing the Fleet.
package sim
