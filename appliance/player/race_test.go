//go:build race

package player

// raceEnabled: real-time performance (underruns, latency) is logged, not
// asserted, under the race detector.
const raceEnabled = true
