// Package ws serves VibeMon's live streams over WebSocket: /ws/telemetry
// (readings and device presence, per subscription) and /ws/alerts (every
// alert change of the caller's org, with the timeline event that made it,
// as its publisher encoded it: vibemon.Alert.LiveData).
//
// The Hub follows centrifugal/centrifuge: one bus subscription per hub; each
// event is encoded once and the same bytes are pushed to the bounded queue of
// every matching client; each client has its own writer goroutine with write
// deadlines and pings. A client whose queue is full is disconnected with
// close code 1008 ("slow consumer") instead of slowing the hub or the other
// clients; it should reconnect and re-query.
//
// Org isolation is structural: clients are indexed by their org, and an
// event is only ever offered to the clients of the event's org, whatever
// device or asset ids a client subscribed to.
//
// Client errors: a message that is not JSON, or a binary message, gets an
// {"type":"error"} message and close code 1003; a JSON message that breaks
// the protocol (unknown type, subscribe without a target, anything before
// authentication) gets an error message and close code 1008. Subscribing to
// a device or asset that is not the caller org's gets a not_found error
// message and the connection stays open, because a dashboard may hold a
// stale id.
package ws
