// Package dsp is the signal-processing core of VibeMon's vibration
// analytics: a real FFT with reusable plans, Hann windows, Welch-averaged
// amplitude spectra, peak lists over a median noise floor, time-domain and
// velocity features, envelope analysis with a spectral-kurtosis band choice,
// bearing kinematics and a bearing catalogue, ISO 10816-3 zones, shaft-speed
// estimation and rule-based diagnosis with evidence.
//
// The package imports only the standard library and golang.org/x/sys/cpu
// (to find AVX2/FMA for the FFT's assembly kernels). Hot paths take
// destination slices or run inside an Analyzer that owns its buffers, so a
// steady stream of bursts allocates nothing per burst beyond the Result it
// returns.
//
// Units: acceleration in g (9.80665 m/s²), velocity in mm/s, frequencies in
// Hz, orders as multiples of the shaft frequency.
package dsp
