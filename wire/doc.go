// Package wire is the VibeMon sensor-node protocol: the GATT profile
// (service and characteristic UUIDs, control opcodes, pairing rules) and the
// codec of every packet a node and a gateway exchange over Bluetooth LE.
//
// The byte layout is specified in docs/protocol.md and pinned by the golden
// vectors in testdata/wire. The package is used unchanged by the node
// firmware (compiled with TinyGo), the simulator, the gateway and the
// server, so it imports only encoding/binary, errors, math and hash/crc32:
// no reflection, no fmt, no encoding/json.
//
// Encoders are append-style and allocation-free (AppendSummary(dst, ...)
// returns dst extended by one packet); decoders check the frame (version,
// length, CRC) with DecodeHeader and then fill a caller's struct from the
// payload, so a gateway decoding a stream allocates nothing per packet.
package wire
