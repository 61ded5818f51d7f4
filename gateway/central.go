package gateway

import (
	"context"
	"errors"
)

// ErrDisconnected is returned by Conn methods once the link is gone.
var ErrDisconnected = errors.New("gateway: peripheral disconnected")

// Central is the BLE central role: it finds VibeMon nodes and connects to
// them. The in-memory link (package blelink) implements it for simulated
// nodes; a radio implementation over tinygo.org/x/bluetooth and BlueZ is
// built with the bluez tag (see docs/gateway.md).
type Central interface {
	// Scan returns the addresses of the nodes advertising the VibeMon
	// service now.
	Scan(ctx context.Context) ([]string, error)
	// Connect connects to the node at addr, discovers the service and
	// subscribes to the Telemetry characteristic. It returns
	// ErrDisconnected (wrapped) when the node refused or went away.
	Connect(ctx context.Context, addr string) (Conn, error)
}

// Conn is one connection to a node.
type Conn interface {
	// ReadDeviceInfo reads the Device Info characteristic: one packet.
	ReadDeviceInfo(ctx context.Context) ([]byte, error)
	// WriteControl writes one command to the Control characteristic
	// (write with response: it returns once the node took it). Errors:
	// ErrDisconnected, or the node's rejection.
	WriteControl(ctx context.Context, cmd []byte) error
	// Notifications delivers Telemetry notifications (fragments when the
	// MTU is small); it is closed when the link is lost or closed.
	Notifications() <-chan []byte
	// MTU returns the notification payload size (ATT MTU - 3).
	MTU() int
	// RSSI returns the received signal strength, dBm (0: unknown).
	RSSI() int
	// Close disconnects; safe twice.
	Close() error
}
