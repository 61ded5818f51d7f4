package vibemon_test

import (
	"testing"

	"github.com/vibemon/vibemon"
)

// FuzzGapExplainer checks the explainer against counting seq by seq: for
// any received seqs and any reported gaps (overlapping, out of order),
// every missing seq is counted once, as the reason of the first-starting
// report that covers it or as unexplained, and the listed runs are
// disjoint, agree with those reasons, and are largest first.
func FuzzGapExplainer(f *testing.F) {
	f.Add([]byte{0xff, 0x0f, 0xf0}, []byte{2, 5, 0, 9, 3, 1})
	f.Add([]byte{0x81}, []byte{0, 7, 2})
	f.Fuzz(func(t *testing.T, recvBits, reports []byte) {
		const n = 64
		received := map[int64]bool{}
		for i := range int64(min(len(recvBits)*8, n)) {
			if recvBits[i/8]&(1<<(i%8)) != 0 {
				received[i] = true
			}
		}
		reasons := []string{vibemon.GapQueueFull, vibemon.GapNodeRingOverflow, vibemon.GapRejected}
		var rep []vibemon.ReportedGap
		for i := 0; i+2 < len(reports) && len(rep) < 20; i += 3 {
			a, b := int64(reports[i]%80), int64(reports[i+1]%80)
			if a > b {
				a, b = b, a
			}
			rep = append(rep, vibemon.ReportedGap{FromSeq: a, ToSeq: b, Reason: reasons[int(reports[i+2])%3]})
		}
		first, last := int64(-1), int64(-1)
		for s := range int64(n) {
			if received[s] {
				if first < 0 {
					first = s
				}
				last = s
			}
		}
		if first < 0 {
			return
		}
		// Brute force: the first-starting report covering s (ties: the
		// earlier one) explains s.
		want := map[int64]string{}
		explain := func(s int64) {
			best := -1
			for i, g := range rep {
				if g.FromSeq <= s && s <= g.ToSeq && (best < 0 || g.FromSeq < rep[best].FromSeq) {
					best = i
				}
			}
			if best < 0 {
				want[s] = vibemon.GapUnexplained
			} else {
				want[s] = rep[best].Reason
			}
		}
		for s := first; s <= last; s++ {
			if !received[s] {
				explain(s)
			}
		}

		c := &vibemon.Completeness{FirstSeq: first, LastSeq: last, Received: int64(len(received))}
		ex := vibemon.NewGapExplainer(c, rep)
		ex.Lead(0, false)
		// Lead may add reported runs below first; take them into the
		// brute force as well.
		for _, g := range c.Gaps {
			for s := g.FromSeq; s < first && s <= g.ToSeq; s++ {
				explain(s)
			}
		}
		for s := first; s <= last; {
			if received[s] {
				s++
				continue
			}
			e := s
			for e+1 <= last && !received[e+1] {
				e++
			}
			ex.Hole(s, e)
			s = e + 1
		}
		ex.Done()

		var explained, unexplained int64
		for _, r := range want {
			if r == vibemon.GapUnexplained {
				unexplained++
			} else {
				explained++
			}
		}
		if c.Explained != explained || c.Unexplained != unexplained || c.Expected != c.Received+explained+unexplained {
			t.Fatalf("explained %d unexplained %d expected %d; want %d, %d, %d", c.Explained, c.Unexplained, c.Expected,
				explained, unexplained, c.Received+explained+unexplained)
		}
		var sum int64
		for _, v := range c.Lost {
			sum += v
		}
		if sum != explained {
			t.Fatalf("lost_by_reason sums to %d, want %d", sum, explained)
		}
		seen := map[int64]bool{}
		for i, g := range c.Gaps {
			if i > 0 && g.Count > c.Gaps[i-1].Count {
				t.Fatalf("gaps not largest first: %v", c.Gaps)
			}
			if g.Count != g.ToSeq-g.FromSeq+1 {
				t.Fatalf("gap %+v: count does not match its range", g)
			}
			for s := g.FromSeq; s <= g.ToSeq; s++ {
				if seen[s] || received[s] || want[s] != g.Reason {
					t.Fatalf("gap %+v: seq %d listed twice, received, or its reason is %q", g, s, want[s])
				}
				seen[s] = true
			}
		}
		if int64(len(c.Gaps)) == c.GapCount && int64(len(seen)) != explained+unexplained {
			t.Fatalf("gaps list %d seqs, %d missing", len(seen), explained+unexplained)
		}
	})
}
