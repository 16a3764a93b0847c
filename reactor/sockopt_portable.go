//go:build darwin || dragonfly || netbsd || openbsd || (linux && shoal_poll)

package reactor

import "golang.org/x/sys/unix"

// reusePortOption is the socket option that lets one listening socket per
// shard share a port (FreeBSD's is in sockopt_freebsd.go).
const reusePortOption = unix.SO_REUSEPORT
