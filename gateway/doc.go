// Package gateway is the VibeMon BLE gateway: it connects to sensor nodes as
// a Bluetooth LE central (behind the Central interface, so the same code runs
// over the real radio or the in-memory link of package blelink), sets their
// clocks, asks each to resume from the last sequence number it holds, decodes
// and reassembles what they notify with package wire, and keeps every summary
// in an offline queue (one SQLite file, WAL) before acknowledging it to the
// node. A sync engine uploads the queue to the server in batches with
// exponential backoff and jitter; a reading leaves the queue only after the
// server's 2xx.
//
// Acknowledgement. A node drops a summary from its ring only when the
// gateway writes ResumeFrom(seq) with a larger seq. The gateway sends it only
// after a completeness check: it asks the node for a Status, whose Buffered
// field counts the summaries the node holds below the status packet's
// sequence number (the next summary's: summaries are numbered densely and
// other packets consume no number), and compares that with the summaries the queue holds in
// the same range. Equal: everything is on disk, ResumeFrom(status seq).
// Fewer: a notification was lost or is still in flight, so after a grace
// period the gateway writes ResumeFrom(its old mark) and the node replays.
// Losses the node reports (EventDataLost) and readings the queue drops at its
// size bound are recorded as gaps, counted in metrics and reported to the
// server (POST /devices/{id}/gaps, marked sent after a 2xx), whose
// completeness ledger then explains those holes. See docs/gateway.md.
package gateway
