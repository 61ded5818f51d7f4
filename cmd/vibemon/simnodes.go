package main

import (
	"context"
	"fmt"
	"io"
	"time"

	fw "github.com/vibemon/vibemon/firmware"
)

func runSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sim", "Run simulated sensor nodes (the firmware core on simulated sensors) talking over\nthe in-memory BLE link to a gateway in this process, which syncs to --server.", stdout)
	var f gatewayFlags
	bindGatewayFlags(fs, getenv, &f, "nodes", 10)
	mode := fs.String("gateway", "inproc", "the gateway the nodes talk to: inproc (the only one: an in-memory link needs both ends in one process)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *mode != "inproc" {
		return fmt.Errorf("sim: --gateway %q: only inproc is supported", *mode)
	}
	if f.simNodes <= 0 {
		return fmt.Errorf("sim: --nodes %d: give at least 1", f.simNodes)
	}
	return serveGateway(ctx, &f, stdout, stderr)
}

// simTimeouts shortens the nodes' radio sleep after a disconnect (5 min
// on a real node) so a simulated fleet reconnects within seconds.
func simTimeouts() fw.Timeouts {
	return fw.Timeouts{Sleep: 20 * time.Second, Reconnect: 10 * time.Second}
}
