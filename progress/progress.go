// Package progress draws the progress of long admin work (vibemon migrate,
// vibemon timescale convert): rows done of the total, the rate of this run
// and the time left.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Bar draws progress. On a terminal it redraws one line at most every
// 200 ms; elsewhere (a log file, CI) it writes a line per 10%, each
// prefixed with the label. A Bar is not safe for concurrent use.
type Bar struct {
	w        io.Writer
	label    string
	terminal bool
	total    int64
	// Initial is the part of Done that earlier runs did (a resumed copy):
	// the rate counts only this run's work.
	Initial int64
	// Done is the rows done so far, earlier runs included.
	Done  int64
	now   func() time.Time
	start time.Time
	drawn time.Time
	step  int64 // last 10% step written (plain mode)
}

// New returns a bar of total rows that writes to w. now is the clock
// (time.Now when nil).
func New(w io.Writer, label string, terminal bool, total int64, now func() time.Time) *Bar {
	if now == nil {
		now = time.Now
	}
	if w == nil {
		w = io.Discard
	}
	return &Bar{w: w, label: label, terminal: terminal, total: total, now: now, start: now(), step: -1}
}

// Add counts n more rows done (negative: work that starts over).
func (b *Bar) Add(n int64) {
	b.Done += n
	t := b.now()
	if b.terminal {
		if t.Sub(b.drawn) >= 200*time.Millisecond {
			b.drawn = t
			fmt.Fprintf(b.w, "\r%s", b.Line(t))
		}
		return
	}
	if b.total > 0 {
		if step := 10 * b.Done / b.total; step > b.step {
			b.step = step
			fmt.Fprintf(b.w, "%s: %s\n", b.label, b.Line(t))
		}
	}
}

// Line is the progress text at t.
func (b *Bar) Line(t time.Time) string {
	pct := 100.0
	if b.total > 0 {
		pct = 100 * float64(b.Done) / float64(b.total)
	}
	el := t.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.Done-b.Initial) / el
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(b.total-b.Done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	s := fmt.Sprintf("%3.0f%% %d/%d rows  %.0f rows/s  ETA %s", pct, b.Done, b.total, rate, eta)
	if b.terminal {
		const width = 30
		n := int(pct / 100 * width)
		n = max(0, min(n, width))
		s = "[" + strings.Repeat("#", n) + strings.Repeat(" ", width-n) + "] " + s
	}
	return s
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish() {
	t := b.now()
	if b.terminal {
		fmt.Fprintf(b.w, "\r%s\n", b.Line(t))
		return
	}
	if b.step < 10 {
		fmt.Fprintf(b.w, "%s: %s\n", b.label, b.Line(t))
	}
}

// Stop ends a terminal line after an interruption.
func (b *Bar) Stop() {
	if b.terminal {
		fmt.Fprintln(b.w)
	}
}
