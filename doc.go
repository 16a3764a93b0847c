// Package shoal serves very many WebSocket (RFC 6455) connections from one
// process without a goroutine per connection, for chat and pub-sub
// backends.
//
// A few reactor shards, each a goroutine locked to its own OS thread with
// its own epoll set, own every connection: they accept, run the opening
// handshake, read and decode frames, answer pings and close handshakes,
// and write. Messages go through a bounded mailbox per connection to a
// bounded pool of worker goroutines, so a Handler sees one connection's
// messages in order, one at a time, as an actor: OnOpen first, then each
// OnMessage, then OnClose exactly once.
//
// A server listens by itself (ListenAndServe, one socket every shard
// accepts from), takes connections from a net.Listener (Serve), or takes
// over connections that a net/http handler upgrades (Upgrade). Conn.Send
// may be called from any goroutine; sends from one goroutine to one
// connection arrive in order.
//
// TLS (wss://) is served by the shards too, with crypto/tls: set
// Config.TLS, or give net/http a NewTLSListener to serve pages and
// WebSockets on one https port. Each TLS handshake runs on a short-lived
// goroutine; after it the shard decrypts and encrypts, and no goroutine
// stays with the connection. Dial speaks wss:// as well.
//
// Nothing waits without bound. A mailbox that fills up stops the shard
// reading that connection until the handler catches up, and TCP slows the
// peer. A peer that does not read fills its outbound queue up to a limit,
// past which Send fails with ErrOutboundFull for that connection alone.
// Every such event is counted in Stats.
//
// The Server is shoal's nonblocking mode. For ordinary blocking code, one
// connection driven by the goroutine that calls it (a client, a tunnel, a
// test), package github.com/shoalws/shoal/stream is a WebSocket over any
// net.Conn, on the same codec; the two interoperate as any RFC 6455 peers.
//
// Built for Linux, where the reactor uses epoll. macOS and the BSDs build
// and run on a portable poll(2) backend, for development and modest
// servers (a wait costs time in proportion to the connections of a
// shard). Other systems fail to build.
package shoal
