// Package bench is the benchmark harness of issue 8: `discodo bench`
// starts N players, each with its own voice connection, against a fake
// Discord voice server on loopback and measures CPU per stream, memory,
// the deviation of send times from the 20 ms grid and the deficit.
//
// The documentation is completed with the measurements.
package bench
