// Package firmware is the portable core of the VibeMon sensor node, written
// for TinyGo: the sampling schedule (MPU6050 FIFO, DS18B20 conversions),
// feature extraction in float32, raw burst capture, a ring buffer of unsent
// summaries that survives a disconnect, the node's state machine with its
// LED patterns, and the OTA receiver.
//
// Everything touching hardware sits behind small interfaces (Sensor, Link,
// Store, Slot, BootControl, Verifier), so the same Node runs on an ESP32
// (board glue in board_tinygo.go, built only with the tinygo tag) and in
// the host simulator. The core imports only wire and standard packages
// TinyGo supports; a test guards the list.
package firmware
