//go:build race

package deflate

// raceEnabled skips allocation counts, which the race detector inflates.
const raceEnabled = true
