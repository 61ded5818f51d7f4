// Package evaluation scores package dsp's diagnosis against the simulator
// (package sim): a confusion matrix over the scenario grid (fault kind ×
// severity × noise × sensor), the false-alarm rate on healthy machines, and
// the delay from a growing fault's onset until the diagnosis names it. The
// tests run a bounded subset and assert what the physics supports; the
// command evaluation/cmd/evalgrid prints the whole grid as Markdown for
// docs/analytics.md.
package evaluation
