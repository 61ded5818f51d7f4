// Command evalgrid runs dsp's diagnosis over the whole simulator grid and
// prints the confusion matrices, the per-cell grid and the onset delays as
// Markdown, the evidence section of docs/analytics.md:
//
//	go run ./evaluation/cmd/evalgrid -bursts 2 > /tmp/grid.md
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/evaluation"
	"github.com/vibemon/vibemon/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "evalgrid:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("evalgrid", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bursts := fs.Int("bursts", 2, "bursts per scenario and machine")
	seed := fs.Uint64("seed", 1, "seed offset")
	onset := fs.Bool("onset", true, "also measure onset delays")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep, err := evaluation.Run(ctx, evaluation.Config{Bursts: *bursts, Seed: *seed})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Grid: %d scenarios × %d machines × %d bursts = %d bursts, %.1f s wall, %.2f ms Analyze per burst (incl. sharing).\n\n",
		len(rep.Cells), len(evaluation.DefaultMachines()), *bursts, rep.Bursts, rep.Elapsed.Seconds(),
		float64(rep.AnalyzeTime.Microseconds())/1000/float64(rep.Bursts))
	for _, s := range []string{"mpu-1k", "piezo-12k", "piezo-25.6k"} {
		fmt.Fprintf(stdout, "**%s**, all severities and noise levels:\n\n", s)
		rep.WriteMatrix(stdout, func(sc sim.Scenario) bool { return evaluation.SensorName(sc.Sensor) == s })
		fmt.Fprintln(stdout)
	}
	fmt.Fprintln(stdout, "Per cell (correct/bursts, and the most frequent wrong call):")
	fmt.Fprintln(stdout)
	rep.WriteGrid(stdout)
	if !*onset {
		return nil
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "Onset delay (exponential growth, P–F 24 h, bursts every 30 min, noise medium, 1797 rpm 6205, 2 consecutive correct bursts with confidence ≥ 0.5):")
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "| fault | sensor | delay | severity then | calls before onset |")
	fmt.Fprintln(stdout, "|---|---|---:|---:|---:|")
	for _, f := range evaluation.Labels()[1:] {
		for _, s := range []sim.Sensor{sim.MPU6050(8), sim.Piezo(12000), sim.Piezo(25600)} {
			o, err := evaluation.MeasureOnset(ctx, evaluation.OnsetConfig{Fault: f, Sensor: s, Onset: 2 * time.Hour, Seed: *seed})
			if err != nil {
				return err
			}
			d := "not within 24 h"
			sev := "–"
			if o.Detected {
				d = fmt.Sprintf("%.1f h", o.Delay.Hours())
				sev = fmt.Sprintf("%.2f", o.Severity)
			}
			fmt.Fprintf(stdout, "| %s | %s | %s | %s | %d/%d |\n", f, evaluation.SensorName(s), d, sev, o.EarlyCalls, o.EarlyBursts)
		}
	}
	_ = dsp.FaultNormal
	return nil
}
