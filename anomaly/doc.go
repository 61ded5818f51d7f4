// Package anomaly holds VibeMon's statistical detectors for condition
// monitoring: an Isolation Forest trained on a device's own baseline
// (Liu, Ting & Zhou, ICDM 2008), streaming drift detectors (EWMA and
// two-sided tabular CUSUM), and trend analysis with a time-to-limit
// forecast (Theil–Sen slope, Sen's confidence interval, Mann–Kendall test).
//
// The package imports only the standard library. Everything is
// deterministic given its inputs and seed. A fitted Forest is immutable:
// scoring allocates nothing per row and is safe for concurrent use, and a
// Forest round-trips through MarshalBinary/UnmarshalBinary so a baseline
// can be stored and reloaded. Methods and the comparison with
// scikit-learn are described in docs/anomaly.md.
//
// Input errors wrap ErrInvalid; callers map them to vibemon.EINVALID.
package anomaly
