//go:build !(bluez && linux)

package gateway

import "errors"

// ErrNoRadio is returned by NewRadio in a build without the radio (not
// Linux, or without the bluez tag).
var ErrNoRadio = errors.New("gateway: built without BLE radio support (build with -tags bluez on Linux with BlueZ)")

// NewRadio returns the Central of the host's Bluetooth adapter. This build
// has none: the radio implementation (radio_bluez.go: tinygo.org/x/bluetooth
// over BlueZ's D-Bus API) is compiled only on Linux with the bluez build
// tag; see docs/gateway.md.
func NewRadio() (Central, error) { return nil, ErrNoRadio }
