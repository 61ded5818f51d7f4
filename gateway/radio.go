//go:build !bluez

package gateway

import "errors"

// ErrNoRadio is returned by NewRadio in a build without the bluez tag.
var ErrNoRadio = errors.New("gateway: built without BLE radio support (build with -tags bluez on Linux with BlueZ)")

// NewRadio returns the Central of the host's Bluetooth adapter. This build
// has none: the radio implementation (tinygo.org/x/bluetooth over BlueZ's
// D-Bus API) is compiled only with the bluez build tag; see
// docs/gateway.md.
func NewRadio() (Central, error) { return nil, ErrNoRadio }
