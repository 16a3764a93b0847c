//go:build race

package timewheel

// raceEnabled lets allocation tests skip under the race detector, whose
// instrumentation allocates on its own.
const raceEnabled = true
