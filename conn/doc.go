// Package conn is one WebSocket connection's state machine, without I/O:
// bytes read from the socket go in through Input; complete messages come
// out through a Sink; frames to send wait in a bounded outbound queue that
// the owning shard gathers into writev calls.
//
// It runs the server side of the opening handshake, decodes and validates
// frames with package codec, reassembles fragmented messages under a size
// limit (1009 before anything that large is allocated), checks text as
// UTF-8 across fragments and reads (1007, failing fast), answers pings,
// and runs the close handshake in both directions. A protocol violation
// fails the connection: a close frame with the RFC's code is queued and
// nothing more is read.
//
// Ownership: everything here belongs to the shard thread that owns the
// connection, except Admit and Queued, which senders on other goroutines
// use to reserve outbound room before posting a frame to the shard.
//
// Memory: an idle connection holds no buffer. Input that ends inside a
// frame header or a control frame is stashed in a pooled buffer (at most
// 139 bytes), a data message being reassembled lives in a pooled buffer
// that grows with the bytes actually received, and queued frames are
// references to pooled buffers; all return to their pools when done.
package conn
