// Package sim simulates a fleet of monitored machines for the demo and for
// tests: each machine's condition evolves over simulated time (healthy,
// or a fault that starts and grows until the machine is "repaired"), and
// the fleet posts feature summaries through the real HTTP ingest API, as a
// gateway would.
//
// Two levels of model live here. Machine works at the level of features
// (RMS, peak, crest, kurtosis, temperature) and is cheap enough for long
// backfills. At the signal level, SignalModel generates three-axis
// acceleration with known, growing faults (Generate); Sensor models MPU6050
// and piezo acquisition (Measure); Node reduces a burst to a
// vibemon.Reading with dsp's feature functions, as a sensor node would; and
// Scenarios is the grid the analytics are evaluated on. See
// docs/simulator.md.
package sim
