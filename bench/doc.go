// Package bench measures VibeMon against baselines in the same run: ingest
// through the HTTP API against a direct batched insert into the same store,
// and long-range queries. It drives real components over loopback; cmd
// wires it to "vibemon bench".
package bench
