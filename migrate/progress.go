package migrate

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// bar draws the progress of a copy: rows copied of the total, the rate of
// this run and the time left. On a terminal it redraws one line at most
// every 200 ms; elsewhere (a log file, CI) it writes a line per 10%.
type bar struct {
	w        io.Writer
	terminal bool
	total    int64
	initial  int64 // rows copied by earlier runs
	copied   int64
	now      func() time.Time
	start    time.Time
	drawn    time.Time
	step     int64 // last 10% step written (plain mode)
}

func newBar(w io.Writer, terminal bool, total int64, now func() time.Time) *bar {
	return &bar{w: w, terminal: terminal, total: total, now: now, start: now(), step: -1}
}

func (b *bar) add(n int64) {
	b.copied += n
	t := b.now()
	if b.terminal {
		if t.Sub(b.drawn) >= 200*time.Millisecond {
			b.drawn = t
			fmt.Fprintf(b.w, "\r%s", b.line(t))
		}
		return
	}
	if b.total > 0 {
		if step := 10 * b.copied / b.total; step > b.step {
			b.step = step
			fmt.Fprintf(b.w, "migrate: %s\n", b.line(t))
		}
	}
}

// line is the progress text at t.
func (b *bar) line(t time.Time) string {
	pct := 100.0
	if b.total > 0 {
		pct = 100 * float64(b.copied) / float64(b.total)
	}
	el := t.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.copied-b.initial) / el
	}
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(b.total-b.copied) / rate * float64(time.Second)).Round(time.Second).String()
	}
	s := fmt.Sprintf("%3.0f%% %d/%d rows  %.0f rows/s  ETA %s", pct, b.copied, b.total, rate, eta)
	if b.terminal {
		const width = 30
		n := int(pct / 100 * width)
		n = max(0, min(n, width))
		s = "[" + strings.Repeat("#", n) + strings.Repeat(" ", width-n) + "] " + s
	}
	return s
}

// finish draws the final state and ends the line.
func (b *bar) finish() {
	t := b.now()
	if b.terminal {
		fmt.Fprintf(b.w, "\r%s\n", b.line(t))
		return
	}
	if b.step < 10 {
		fmt.Fprintf(b.w, "migrate: %s\n", b.line(t))
	}
}

// stop ends a terminal line after an interruption.
func (b *bar) stop() {
	if b.terminal {
		fmt.Fprintln(b.w)
	}
}
