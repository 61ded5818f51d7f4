package main

import (
	"context"
	"fmt"
	"io"

	"github.com/vibemon/vibemon/sim"
)

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "Run the server with a simulated fleet of machines, ready to look at in a browser.", stdout)
	finish := bindServerFlags(fs, getenv)
	devices := fs.Int("devices", 8, "number of simulated machines (1..10000)")
	speed := fs.Float64("speed", 120, "simulated seconds per real second: how fast faults develop")
	seed := fs.Uint64("seed", 1, "random seed of the fleet")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := finish()
	if err != nil {
		return err
	}
	if *devices < 1 || *devices > 10000 {
		return &settingError{"devices", "", fmt.Sprintf("%d is not between 1 and 10000", *devices)}
	}
	if !(*speed > 0 && *speed <= 1e6) {
		return &settingError{"speed", "", fmt.Sprintf("%g is not between 0 (exclusive) and 1000000", *speed)}
	}
	a, err := startApp(ctx, s, stdout, stderr)
	if err != nil {
		return err
	}
	if a.admin.Password == "" {
		fmt.Fprintf(stdout, "Log in as %s with the password shown at the first start (forgot it? vibemon user set-password --email %s --data-dir %s)\n", a.admin.Email, a.admin.Email, s.DataDir)
	}
	fleet, err := sim.NewFleet(sim.FleetConfig{
		BaseURL: "http://" + a.ln.Addr().String(),
		Token: func(context.Context) (string, error) {
			// The fleet acts as the first owner, with tokens minted in-process,
			// so a restarted demo works without knowing the password.
			t, _, err := a.issuer.Issue(a.admin.User)
			return t.AccessToken, err
		},
		Devices: *devices, Speed: *speed, Seed: *seed, Logger: a.log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Simulating %d machines (%gx speed). Open %s in a browser; Ctrl+C stops.\n", *devices, *speed, a.url)
	go func() {
		if err := fleet.Run(ctx); err != nil {
			a.log.Error("demo fleet stopped", "err", err)
		}
	}()
	a.wait()
	return nil
}
