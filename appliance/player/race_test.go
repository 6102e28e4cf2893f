//go:build race

package player

// Timing limits are stretched under the race detector (5–10× slower).
const timingSlack = 4
