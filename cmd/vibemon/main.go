// Command vibemon is VibeMon's one binary: the server, the demo, and the
// admin tools. main only parses, wires the packages together and runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vibemon:", err)
		os.Exit(1)
	}
}

const usage = `VibeMon: condition monitoring for rotating machinery.

Usage:
  vibemon demo    [flags]   the server plus a simulated fleet, ready to look at in a browser
  vibemon serve   [flags]   the server
  vibemon user    COMMAND   manage users (create, set-password, list)
  vibemon bench   ingest    measure ingest through the API against a direct insert
  vibemon analyze FILE...   offline analysis of recordings (CSV, WAV, raw float32)
  vibemon gateway [flags]   the BLE gateway: offline queue and sync to a server
  vibemon sim     [flags]   simulated sensor nodes talking to an in-process gateway
  vibemon migrate --from sqlite://PATH --to postgres://...   copy an embedded installation into PostgreSQL
  vibemon timescale status|convert   the readings layout on PostgreSQL; move readings into a TimescaleDB hypertable
  vibemon version           print the version

Run "vibemon COMMAND --help" for a command's flags. Settings can also come
from VIBEMON_* environment variables; see README.md.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole program: tests call it as main would.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command given")
	}
	var err error
	switch args[0] {
	case "demo":
		err = runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		err = runUser(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], getenv, stdout, stderr)
	case "analyze":
		err = runAnalyze(ctx, args[1:], getenv, stdout, stderr)
	case "gateway":
		err = runGateway(ctx, args[1:], getenv, stdout, stderr)
	case "sim":
		err = runSim(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		err = runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "timescale":
		err = runTimescale(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "vibemon", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		return fmt.Errorf("unknown command %q; run \"vibemon help\" for the list", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// newFlagSet returns a flag set whose --help prints to stdout.
func newFlagSet(name, summary string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: vibemon %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}
