// Package reactor is the part of shoal that talks to the kernel: one
// readiness poller per Poller, the loop that waits on it from a goroutine
// locked to its OS thread, a wake-up that reaches the loop from other
// goroutines, and the few socket calls the shards make (listen, accept,
// read, writev, dup out of Go's netpoller). It knows nothing of WebSocket.
//
// Two backends share this API. On Linux, epoll with an eventfd for
// wake-ups (poller_linux.go, socket_linux.go): the one built for very many
// connections. On macOS and the BSDs, poll(2) with a pipe for wake-ups and
// only the socket calls every Unix has (poller_poll.go,
// socket_portable.go): for development and modest servers, since a wait
// costs time in proportion to the fds registered. Linux builds the
// portable backend too with the shoal_poll build tag, which is how it is
// tested. Other systems fail to build with an explicit message.
//
// Registration is level-triggered: a readable fd is reported on every wait
// until it is drained or its interest is dropped, which is how a shard
// pauses reading a connection whose mailbox is full. Interest in
// writability is meant to be armed only while a connection has unsent
// bytes. Remove an fd before closing it (epoll forgets a closed fd by
// itself; a poll set does not).
//
// Wake-ups are coalesced: while the loop is running, or a wake-up is
// already on its way, Wake writes nothing. Every syscall error is wrapped
// in an *os.SyscallError so callers can test the errno with errors.Is.
package reactor
