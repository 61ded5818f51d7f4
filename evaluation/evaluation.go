package evaluation

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/vibemon/vibemon/dsp"
	"github.com/vibemon/vibemon/sim"
)

// Machine is a shaft speed and bearing the grid is run on. Several machines
// keep the scoring from rewarding a method fitted to one speed or one set of
// defect frequencies.
type Machine struct {
	RPM     float64
	Bearing string // designation in dsp's catalogue
}

// DefaultMachines are the machines a Config without Machines uses: the CWRU
// test rig's motor speed and bearing, a 4-pole motor with a 6206, and a
// 2-pole motor with a 6305.
func DefaultMachines() []Machine {
	return []Machine{{1797, "6205"}, {1480, "6206"}, {2960, "6305"}}
}

// Config is one evaluation run. Its zero value runs the full grid of
// sim.Scenarios on DefaultMachines with two bursts per machine.
type Config struct {
	// Scenarios to score; nil means sim.Scenarios().
	Scenarios []sim.Scenario
	// Machines each scenario is run on; nil means DefaultMachines().
	Machines []Machine
	// Bursts per scenario and machine, at distinct times and seeds;
	// 0 means 2.
	Bursts int
	// Window is the burst length; 0 means 1 s. A burst is never shorter
	// than 4096 samples, so a 1 kHz node records 4.1 s.
	Window time.Duration
	// Seed offsets every model's seed; runs with the same Seed agree.
	Seed uint64
	// Workers analyse in parallel; 0 means GOMAXPROCS.
	Workers int
}

// Cell is the outcome of one scenario over all its bursts.
type Cell struct {
	Scenario sim.Scenario
	// Got counts the leading diagnosis of every burst.
	Got map[string]int
	N   int
}

// Correct is the number of bursts whose leading diagnosis is the
// scenario's fault (normal for a healthy machine).
func (c *Cell) Correct() int { return c.Got[c.Scenario.Fault] }

// Report is the result of Run.
type Report struct {
	Config Config
	Cells  []Cell
	// Elapsed is the wall time of the run, AnalyzeTime the summed time
	// spent in dsp's Analyze (over all workers).
	Elapsed, AnalyzeTime time.Duration
	Bursts               int
}

// Options returns the analysis options a node on machine m with sensor s
// would send: the nominal speed, the bearing, the sensor's low-pass corner
// and the axial axis (sim's Z).
func Options(m Machine, s sim.Sensor) (dsp.Options, error) {
	b, ok := dsp.LookupBearing(m.Bearing)
	if !ok {
		return dsp.Options{}, fmt.Errorf("evaluation options: unknown bearing %q", m.Bearing)
	}
	return dsp.Options{RPM: m.RPM, Bearing: b, LowPassHz: s.LowPassHz, AxialAxis: 3}, nil
}

func samples(win time.Duration, rate float64) int {
	if win <= 0 {
		win = time.Second
	}
	return max(4096, int(math.Round(win.Seconds()*rate)))
}

type job struct {
	cell, burst int
	machine     Machine
}

// Run scores every scenario of cfg and returns the report. It stops early
// with ctx's error when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	scs := cfg.Scenarios
	if scs == nil {
		scs = sim.Scenarios()
	}
	machines := cfg.Machines
	if machines == nil {
		machines = DefaultMachines()
	}
	bursts := cfg.Bursts
	if bursts <= 0 {
		bursts = 2
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	for _, m := range machines {
		if _, err := Options(m, sim.Sensor{}); err != nil {
			return nil, fmt.Errorf("run evaluation: %w", err)
		}
	}
	rep := &Report{Config: cfg, Cells: make([]Cell, len(scs))}
	for i, sc := range scs {
		rep.Cells[i] = Cell{Scenario: sc, Got: map[string]int{}}
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			an := dsp.NewAnalyzer()
			var res dsp.Result
			var x [3][]float64
			for j := range jobs {
				sc := scs[j.cell]
				o, _ := Options(j.machine, sc.Sensor)
				seed := cfg.Seed*1_000_003 + uint64(j.cell)*7919 + uint64(j.burst)*104729 + uint64(j.machine.RPM)
				model := sc.Model(j.machine.RPM, o.Bearing, seed)
				n := samples(cfg.Window, sc.Sensor.Rate)
				for a := range x {
					if cap(x[a]) < n {
						x[a] = make([]float64, n)
					}
					x[a] = x[a][:n]
				}
				t := time.Duration(j.burst)*7*time.Minute + time.Minute
				sc.Sensor.Measure(x, model, t)
				t0 := time.Now()
				err := an.Analyze(&res, x[:], sc.Sensor.Rate, o)
				d := time.Since(t0)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("analyze %s: %w", sc.Name, err)
				}
				c := &rep.Cells[j.cell]
				c.Got[res.Top().Fault]++
				c.N++
				rep.AnalyzeTime += d
				rep.Bursts++
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range scs {
		for b := range bursts {
			for _, m := range machines {
				select {
				case jobs <- job{cell: i, burst: b, machine: m}:
				case <-ctx.Done():
					break feed
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	rep.Elapsed = time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run evaluation: %w", err)
	}
	return rep, nil
}

// Rate is the fraction of bursts in the cells selected by keep whose leading
// diagnosis is correct, and the number of bursts.
func (r *Report) Rate(keep func(sim.Scenario) bool) (frac float64, n int) {
	var ok int
	for i := range r.Cells {
		c := &r.Cells[i]
		if keep(c.Scenario) {
			ok += c.Correct()
			n += c.N
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(ok) / float64(n), n
}

// Labels are the diagnosis labels in matrix order.
func Labels() []string {
	return []string{dsp.FaultNormal, dsp.FaultImbalance, dsp.FaultMisalignment, dsp.FaultLooseness,
		dsp.FaultOuterRace, dsp.FaultInnerRace, dsp.FaultBall, dsp.FaultCage}
}

// Matrix sums the cells selected by keep into a confusion matrix:
// m[truth][got] bursts.
func (r *Report) Matrix(keep func(sim.Scenario) bool) map[string]map[string]int {
	m := map[string]map[string]int{}
	for i := range r.Cells {
		c := &r.Cells[i]
		if !keep(c.Scenario) {
			continue
		}
		row := m[c.Scenario.Fault]
		if row == nil {
			row = map[string]int{}
			m[c.Scenario.Fault] = row
		}
		for k, v := range c.Got {
			row[k] += v
		}
	}
	return m
}

// Misses lists the cells selected by keep with fewer than all bursts
// correct, worst first.
func (r *Report) Misses(keep func(sim.Scenario) bool) []Cell {
	var out []Cell
	for _, c := range r.Cells {
		if keep(c.Scenario) && c.Correct() < c.N {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return float64(out[i].Correct())/float64(out[i].N) < float64(out[j].Correct())/float64(out[j].N)
	})
	return out
}
