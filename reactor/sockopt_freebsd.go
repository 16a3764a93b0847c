package reactor

import "golang.org/x/sys/unix"

// FreeBSD's SO_REUSEPORT lets sockets share a port but gives every
// connection to one of them; SO_REUSEPORT_LB (FreeBSD 12) spreads them
// as Linux's SO_REUSEPORT does.
const reusePortOption = unix.SO_REUSEPORT_LB
