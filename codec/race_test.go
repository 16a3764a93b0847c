//go:build race

package codec

// raceEnabled skips allocation counts, which the race detector inflates.
const raceEnabled = true
