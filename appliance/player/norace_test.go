//go:build !race

package player

const timingSlack = 1
