//go:build !linux

package reactor

// threadID names the calling OS thread, where the system says; 0 here.
func threadID() int { return 0 }
