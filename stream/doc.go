// Package stream is a WebSocket (RFC 6455) connection over any net.Conn,
// used with ordinary blocking calls: a service that dials another, a
// tunnel that carries a byte stream over wss, a command-line tool, a
// test. It is built on package codec, like shoal's engine, and behaves as
// the engine does on the wire: the same checks, limits and close codes.
//
// shoal's Server is the nonblocking mode: its reactor holds hundreds of
// thousands of connections without a goroutine each and hands their
// messages to handlers. A stream.Conn is the blocking mode: one
// connection, driven by the goroutine that calls it. The two speak plain
// RFC 6455 to each other and to any other implementation; the example
// ExampleDial_shoalServer has a stream.Conn talk to a Server.
//
// # Connecting
//
// Dial connects to a ws:// or wss:// URL as a client. Accept takes over a
// connection from a net/http handler as a server, over TLS as well. Client
// and Server run the handshake over a connection the caller already has,
// in either role. Each takes a *Options; nil means the defaults.
//
// # Messages
//
// ReadMessage reads the next message whole; NextReader reads it through an
// io.Reader without holding it. WriteMessage writes a message; NextWriter
// writes one through an io.WriteCloser, a piece at a time. Pings are
// answered and the peer's close frame is answered inside reads
// (Options.OnPing and Options.OnPong see pings and pongs), so something
// must be reading for a peer's ping or close to be answered. The peer's
// close frame ends reading with a *codec.CloseError; a breach of the
// protocol fails the connection with the RFC's close code (1002, 1007,
// 1009) and comes back as a *codec.ProtocolError.
//
// # Byte stream
//
// *Conn is a net.Conn: Write sends its bytes as a binary message, Read
// returns the payload of incoming messages as one stream, across message
// boundaries, and io.EOF when the peer closes normally. io.Copy between a
// TCP connection and a Conn moves bytes unchanged, which is a tunnel.
// Deadlines are the underlying connection's; Close runs the close
// handshake.
//
// # Goroutines
//
// One goroutine reads while any number write. Writes are serialized a
// whole message at a time: a WriteMessage, Write or NextWriter waits for
// the message being written to end (for NextWriter, for its Close). Pongs
// and close frames go out between the frames of a message being streamed.
// Reads are serialized too, as net.Conn requires, but messages make sense
// to one reader only. Close may be called from any goroutine, while
// another reads.
//
// # Memory
//
// A Conn holds a read buffer and a write buffer (4 KiB each by default)
// and nothing per message: ReadMessage hands out its payload in place or
// in a pooled buffer that the next read takes back; payloads larger than
// a buffer bypass it (read straight into the caller's slice, written with
// the header in one vectored write, or, by a client, masked in a pooled
// chunk, never in the caller's slice). Reading and writing messages
// allocate nothing in steady state.
//
// The package needs no epoll, unlike the engine: it builds wherever Go
// does.
package stream
