// Package web serves the VibeMon panel: server-rendered HTML shells and the
// static files (CSS, vanilla JavaScript modules, the vendored uPlot chart
// library), all embedded in the binary. The pages fetch their data from the
// JSON API (/api/v1) and the WebSockets (/ws/telemetry, /ws/alerts) in the
// browser, so this package imports nothing of the server and needs no store.
//
// The machine page (/assets/{id}) shows the analytics: a health card in plain
// words (ISO zone, diagnosis, anomaly, forecast; texts in static/js/words.js,
// tested with Node in testdata/), the velocity trend over ISO zone bands with
// the alarm and trip lines, spectrum and envelope spectrum of a raw burst
// with fault-frequency markers and harmonic cursors, and a canvas waterfall
// of the recent spectra.
//
// There is no front-end build step and no CDN: what is in static/ is what the
// browser runs. Every answer carries a strict Content-Security-Policy that
// allows scripts, styles and connections only from the panel's own origin.
package web
