package gateway

import "github.com/prometheus/client_golang/prometheus"

// metrics are the gateway's Prometheus series (docs/gateway.md lists them).
type metrics struct {
	received, uploaded, duplicates, rejected prometheus.Counter
	uploadErrors, nodeLost, replays, acks    prometheus.Counter
	badPackets, waveforms, gapsReported      prometheus.Counter
	settingsApplied, settingsConflicts       prometheus.Counter
	otaDone, otaFailed, otaBytes             prometheus.Counter
	otaStatusRetries                         prometheus.Counter
	connected, serverUp                      prometheus.Gauge
	depth, dropped                           prometheus.Collector
}

func newMetrics(q *Queue) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "vibemon_gateway_" + name, Help: help})
	}
	return &metrics{
		received:          c("readings_received_total", "Summaries received from nodes and written to the queue (replays included)."),
		uploaded:          c("readings_uploaded_total", "Readings the server took with a 2xx (new and duplicates)."),
		duplicates:        c("readings_duplicates_total", "Readings the server already had."),
		rejected:          c("readings_rejected_total", "Readings the server rejected as invalid (recorded as gaps)."),
		uploadErrors:      c("upload_errors_total", "Upload or registration requests that failed (network, 5xx, 401/403)."),
		nodeLost:          c("node_lost_total", "Summaries the nodes reported lost to ring overflow (EventDataLost)."),
		replays:           c("replays_total", "ResumeFrom replays asked for because the completeness check fell short."),
		acks:              c("acks_total", "ResumeFrom acknowledgements after a complete check."),
		badPackets:        c("bad_packets_total", "Notifications that failed to decode (CRC, length, version)."),
		waveforms:         c("waveforms_uploaded_total", "Raw bursts uploaded."),
		gapsReported:      c("gaps_reported_total", "Gap records the server took (POST /devices/{id}/gaps answered 2xx)."),
		settingsApplied:   c("settings_applied_total", "Settings the server changed that the gateway wrote to a node."),
		settingsConflicts: c("settings_conflicts_total", "Times a node reported a setting other than the one delivered to it; the server's value was written again."),
		otaDone:           c("ota_updates_total", "Firmware updates relayed to a node that then ran the new version."),
		otaFailed:         c("ota_failures_total", "Firmware updates a node refused (signature, hash, downgrade, hardware)."),
		otaBytes:          c("ota_bytes_sent_total", "Firmware image bytes written to nodes (resends included)."),
		otaStatusRetries:  c("ota_status_retries_total", "OTA statuses the node's notification did not bring in time, asked for again with OTAQuery."),
		connected:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "vibemon_gateway_connected_nodes", Help: "Nodes with a session now."}),
		serverUp:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "vibemon_gateway_server_up", Help: "1 when the last request to the server succeeded."}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vibemon_gateway_queue_depth", Help: "Readings waiting for upload."},
			func() float64 { return float64(q.Depth()) }),
		dropped: prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vibemon_gateway_queue_dropped_total", Help: "Readings dropped at the queue's size bound (oldest first), ever."},
			func() float64 { return float64(q.Dropped()) }),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.received, m.uploaded, m.duplicates, m.rejected, m.uploadErrors, m.nodeLost,
		m.replays, m.acks, m.badPackets, m.waveforms, m.gapsReported,
		m.settingsApplied, m.settingsConflicts, m.otaDone, m.otaFailed, m.otaBytes, m.otaStatusRetries, m.connected, m.serverUp, m.depth, m.dropped} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
