// Package codec is the RFC 6455 wire layer of shoal: frame headers,
// masking, UTF-8 and close payload checks, and the HTTP/1.1 opening
// handshake in both roles. It does no I/O, starts no goroutines and
// allocates nothing in steady state, so it can sit under any event loop:
// shoal's reactor shards use it, and so can a program of your own.
//
// Everything works on byte slices the caller owns and may arrive in
// pieces. A decoder that has not seen enough input returns ErrNeedMore
// (and, for frame headers, how many bytes it needs in all); call it
// again with more. Slices in results alias the input and are valid until
// the caller reuses that buffer.
//
// Errors a peer causes are *ProtocolError values that carry the close
// code RFC 6455 asks for (1002, 1007, 1009); CloseCodeOf extracts it.
// A server's handshake failures are *HandshakeError values that carry the
// HTTP status to answer with; a client's (ErrBadAccept and friends) are
// plain errors, since a client has no status to answer with. All are
// package-level sentinels, compared with errors.Is, so failing costs no
// allocation either.
//
// A receiver reads a frame in four steps:
//
//	h, n, err := codec.DecodeHeader(buf)       // ErrNeedMore: read more
//	err = rules.Check(h)                       // role, RSV, control, size
//	codec.Mask(h.Mask, 0, buf[n:n+h.Length])   // unmask the payload in place
//	utf8.Write(payload)                        // text only, across fragments
//
// Rules that span frames (continuations, interleaved control frames,
// message size) belong to the connection that reassembles messages; the
// codec supplies their sentinel errors.
//
// Concurrency: the functions keep no state and are safe for concurrent use
// on distinct buffers; a UTF8Validator, Request or Response is a value for
// one goroutine at a time.
package codec
