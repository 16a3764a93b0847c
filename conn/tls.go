package conn

import "github.com/shoalws/shoal/internal/bufpool"

// What a shard needs to run a connection over TLS: its plaintext comes
// out of crypto/tls in pieces, and its sealed records can wait outside
// the queue.

// Hold keeps input that arrived while the connection is paused, after
// what is already stashed; Resume processes it in order. A TLS
// connection needs it: the plaintext of one socket read comes out of
// crypto/tls in pieces, and a piece may pause the connection while the
// rest is already decrypted.
func (c *Conn) Hold(data []byte) {
	if len(data) == 0 {
		return
	}
	c.stash = bufpool.Grow(c.stash, len(data))
	c.stash.B = append(c.stash.B, data...)
}

// Charge counts n bytes the owner holds for the connection outside its
// queue (TLS records sealed and not yet written) against the outbound
// limit, as queued bytes; a negative n gives them back. Safe from the
// shard thread only, like the queue.
func (c *Conn) Charge(n int64) { c.queued.Add(n) }
