// Package recording reads vibration recordings from files for offline
// analysis: CSV text (one column per axis, an optional header and time
// column), WAV audio (PCM 16/24/32-bit integer or 32/64-bit float, one
// channel per axis) and raw little-endian float32 (interleaved channels).
//
// Every reader returns a Recording: one float64 slice per axis in g, the
// sample rate and where it came from. Readers check what a person who
// exported a file by hand gets wrong (a ragged row, a stray word, a NaN, a
// header naming the wrong columns, a byte count that does not fit the
// channel count) and name the row, column or sample in the error, so the
// file can be fixed. Errors are *vibemon.Error with code EINVALID, or
// ETOOLARGE above Options.MaxBytes.
//
// Files are read in one pass through a buffer; memory is the samples
// themselves (8 bytes per sample per axis), which is what the analysis
// needs anyway.
package recording
