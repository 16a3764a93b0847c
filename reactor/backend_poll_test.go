//go:build darwin || dragonfly || freebsd || netbsd || openbsd || (linux && shoal_poll)

package reactor

// What the tests expect of the poll backend.
const (
	// addSyscall is the call whose error Add reports for a bad fd: Add
	// checks the fd with fcntl, since poll itself would only flag it on
	// the next wait.
	addSyscall = "fcntl"
	// acceptAllocs is the most allocations one Accept may make: x/sys's
	// Accept returns the peer address in a new Sockaddr.
	acceptAllocs = 2
)
