//go:build linux && !shoal_poll

package reactor

// What the tests expect of the epoll backend.
const (
	// addSyscall is the call whose error Add reports for a bad fd.
	addSyscall = "epoll_ctl"
	// acceptAllocs is the most allocations one Accept may make: the peer
	// address lands in the Acceptor's own buffer.
	acceptAllocs = 0
)
