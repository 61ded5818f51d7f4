package evaluation

import (
	"fmt"
	"io"
	"strings"

	"github.com/vibemon/vibemon/sim"
)

var short = map[string]string{
	"normal": "normal", "imbalance": "imbal", "misalignment": "misal", "looseness": "loose",
	"bearing_outer_race": "outer", "bearing_inner_race": "inner", "bearing_ball": "ball", "bearing_cage": "cage",
}

// WriteMatrix writes the confusion matrix of the cells selected by keep as
// a Markdown table: one row per true fault, one column per diagnosis, the
// last column the fraction correct.
func (r *Report) WriteMatrix(w io.Writer, keep func(sim.Scenario) bool) {
	m := r.Matrix(keep)
	labels := Labels()
	fmt.Fprint(w, "| truth \\ got |")
	for _, l := range labels {
		fmt.Fprintf(w, " %s |", short[l])
	}
	fmt.Fprintln(w, " correct |")
	fmt.Fprintln(w, "|---"+strings.Repeat("|---:", len(labels)+1)+"|")
	for _, truth := range labels {
		row := m[truth]
		if row == nil {
			continue
		}
		n := 0
		for _, v := range row {
			n += v
		}
		fmt.Fprintf(w, "| %s |", truth)
		for _, l := range labels {
			if row[l] == 0 {
				fmt.Fprint(w, " · |")
			} else if l == truth {
				fmt.Fprintf(w, " **%d** |", row[l])
			} else {
				fmt.Fprintf(w, " %d |", row[l])
			}
		}
		fmt.Fprintf(w, " %d/%d (%.0f %%) |\n", row[truth], n, 100*float64(row[truth])/float64(n))
	}
}

// WriteGrid writes the fraction correct of every fault × severity (rows)
// against noise × sensor (columns).
func (r *Report) WriteGrid(w io.Writer) {
	type key struct{ fault, level, noise, sensor string }
	cells := map[key]*Cell{}
	var sensors []string
	seen := map[string]bool{}
	for i := range r.Cells {
		c := &r.Cells[i]
		s := c.Scenario
		name := SensorName(s.Sensor)
		cells[key{s.Fault, s.Level, s.NoiseLevel, name}] = c
		if !seen[name] {
			seen[name] = true
			sensors = append(sensors, name)
		}
	}
	noises := []string{"low", "medium", "high"}
	fmt.Fprint(w, "| fault / severity |")
	for _, se := range sensors {
		for _, nz := range noises {
			fmt.Fprintf(w, " %s n-%s |", se, nz)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "|---"+strings.Repeat("|---:", len(sensors)*len(noises))+"|")
	for _, f := range Labels() {
		for _, lv := range []string{"", "low", "medium", "high"} {
			any := false
			var b strings.Builder
			fmt.Fprintf(&b, "| %s %s |", short[f], lv)
			for _, se := range sensors {
				for _, nz := range noises {
					c := cells[key{f, lv, nz, se}]
					if c == nil {
						fmt.Fprint(&b, " |")
						continue
					}
					any = true
					fmt.Fprintf(&b, " %d/%d%s |", c.Correct(), c.N, worst(c))
				}
			}
			if any {
				fmt.Fprintln(w, b.String())
			}
		}
	}
}

// worst names the most frequent wrong diagnosis of a cell, if any.
func worst(c *Cell) string {
	best, bn := "", 0
	for k, v := range c.Got {
		if k != c.Scenario.Fault && v > bn {
			best, bn = k, v
		}
	}
	if bn == 0 {
		return ""
	}
	return " " + short[best]
}

// SensorName is a short name of a sensor by its rate: "mpu-1k",
// "piezo-12k", "piezo-25.6k".
func SensorName(s sim.Sensor) string {
	kind := "piezo"
	if s.Gravity != [3]float64{} {
		kind = "mpu"
	}
	return fmt.Sprintf("%s-%gk", kind, s.Rate/1000)
}
