//go:build race

package shoal

const raceOn = true
