// Package blelink is the in-memory Bluetooth LE link between simulated
// sensor nodes and the gateway: Fleet runs N nodes (the real firmware core,
// firmware.Node, on simulated sensors fed by package sim's signal model or a
// cheap sine) on a shared, optionally sped-up Clock, and is the
// gateway.Central that connects to them. Each node's radio can drop, delay,
// reorder and disconnect notifications with seeded probabilities
// (LinkConfig), at an MTU of 244 bytes or 20 (packets then travel as
// fragments, as over a real link without data length extension).
//
// SimNode.Produced is the ground truth: the sequence number of every
// summary the node's ring stored, recorded at its flash (Store) boundary.
package blelink
