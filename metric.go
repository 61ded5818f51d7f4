package vibemon

// Metric names one value a reading carries. The set is fixed: storage keeps
// one column per metric, rollups keep avg/min/max per metric.
type Metric int

// The metrics of a reading, in storage column order.
const (
	AccRMSX Metric = iota // acceleration RMS, g
	AccRMSY
	AccRMSZ
	AccPeakX // acceleration peak, g
	AccPeakY
	AccPeakZ
	VelRMSX // velocity RMS, mm/s
	VelRMSY
	VelRMSZ
	CrestX // crest factor (peak / RMS), dimensionless
	CrestY
	CrestZ
	KurtosisX // kurtosis (normal noise = 3), dimensionless
	KurtosisY
	KurtosisZ
	TempC    // temperature, degrees Celsius
	BatteryV // battery voltage, V
	RSSIdBm  // radio signal strength at the gateway, dBm

	NumMetrics int = iota // number of metrics
)

type metricInfo struct {
	name     string
	unit     string
	min, max float64 // accepted range, inclusive
}

// Ranges are physical: an MPU6050 saturates at 16 g, a DS18B20 measures
// -55..125 C. A value outside is a sensor or encoding fault, not a reading.
var metrics = [NumMetrics]metricInfo{
	{"acc_rms_x", "g", 0, 32}, {"acc_rms_y", "g", 0, 32}, {"acc_rms_z", "g", 0, 32},
	{"acc_peak_x", "g", 0, 64}, {"acc_peak_y", "g", 0, 64}, {"acc_peak_z", "g", 0, 64},
	{"vel_rms_x", "mm/s", 0, 1000}, {"vel_rms_y", "mm/s", 0, 1000}, {"vel_rms_z", "mm/s", 0, 1000},
	{"crest_x", "", 0, 100}, {"crest_y", "", 0, 100}, {"crest_z", "", 0, 100},
	{"kurtosis_x", "", 0, 1000}, {"kurtosis_y", "", 0, 1000}, {"kurtosis_z", "", 0, 1000},
	{"temp_c", "°C", -55, 150},
	{"battery_v", "V", 0, 10},
	{"rssi_dbm", "dBm", -130, 20},
}

// String returns the metric's wire and column name, e.g. "vel_rms_x".
func (m Metric) String() string {
	if m < 0 || int(m) >= NumMetrics {
		return "unknown"
	}
	return metrics[m].name
}

// Unit returns the metric's unit, "" when dimensionless.
func (m Metric) Unit() string { return metrics[m].unit }

// Range returns the inclusive range of values a reading may carry.
func (m Metric) Range() (min, max float64) { return metrics[m].min, metrics[m].max }

var metricByName = func() map[string]Metric {
	m := make(map[string]Metric, NumMetrics)
	for i := range metrics {
		m[metrics[i].name] = Metric(i)
	}
	return m
}()

// ParseMetric returns the metric named s.
func ParseMetric(s string) (Metric, bool) {
	m, ok := metricByName[s]
	return m, ok
}

// AllMetrics returns every metric in column order.
func AllMetrics() []Metric {
	all := make([]Metric, NumMetrics)
	for i := range all {
		all[i] = Metric(i)
	}
	return all
}
