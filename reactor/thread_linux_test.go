package reactor

import "golang.org/x/sys/unix"

// threadID names the calling OS thread.
func threadID() int { return unix.Gettid() }
