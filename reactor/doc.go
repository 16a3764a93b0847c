// Package reactor is the part of shoal that talks to the kernel: one epoll
// instance per Poller, the loop that waits on it from a goroutine locked to
// its OS thread, an eventfd that wakes the loop from other goroutines, and
// the few socket calls the shards make (listen, accept, read, writev, dup
// out of Go's netpoller). It knows nothing of WebSocket.
//
// Registration is level-triggered: a readable fd is reported on every wait
// until it is drained or its interest is dropped, which is how a shard
// pauses reading a connection whose mailbox is full. Interest in
// writability is meant to be armed only while a connection has unsent
// bytes.
//
// Wake-ups are coalesced: while the loop is running, or a wake-up is
// already on its way, Wake writes nothing. Every syscall error is wrapped
// in an *os.SyscallError so callers can test the errno with errors.Is.
//
// Linux only; other systems fail to build with an explicit message.
package reactor
