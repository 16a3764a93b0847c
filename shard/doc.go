// Package shard is one reactor thread and the connections it owns: it
// accepts, runs handshakes, reads and decodes, hands messages to the
// mailboxes, writes what is queued, and drives every connection's
// deadlines from a timing wheel. A connection belongs to exactly one
// shard for its whole life.
//
// Other goroutines never touch a connection's state or socket. They post
// commands to the owning shard (a mutex-guarded queue plus a coalesced
// eventfd wake-up); the shard applies them between epoll waits, in the
// order they were posted, and writes once per loop pass for every
// connection that has output, so that several frames queued for one
// connection leave in a single writev.
package shard
