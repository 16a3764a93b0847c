// Package conformance is a WebSocket (RFC 6455) server conformance suite
// in the shape of the Autobahn testsuite: every case of its groups 1 to 7,
// 9 and 10, under Autobahn's case ids, groups 12 and 13 for
// permessage-deflate (RFC 7692) in a layout of their own, and a few cases
// beyond Autobahn ("x.N") for the frame length and message size limits.
// Run runs them against an echo server at a loopback address, each as a
// subtest.
//
// The server under test echoes every text and binary message exactly as
// received, takes messages up to 16 MiB and fails connections with the
// RFC's close codes. The suite's own client dials TCP (or TLS, with
// Options.TLS: the same cases over wss://), does the opening handshake
// with package codec, and sends hand-made frames, each masked with a
// fresh random key, in one write, a write per frame, or chops of a few
// bytes ("octet-wise"), as Autobahn does. Over TLS each write is a
// record of its own, so octet-wise means one-byte records.
//
// What it accepts:
//
//   - Echoes are compared as whole messages: the server may fragment them
//     as it likes, but type and bytes must match. Server frames must be
//     unmasked, carry no RSV bit and follow the fragmentation rules.
//   - Pongs must carry the ping's payload exactly, in order; unsolicited
//     pongs must be ignored. "Nothing happened" is checked by a ping probe
//     whose pong must be the next thing the server sends, not by sleeping.
//   - Where the RFC asks for a close code (1002 protocol error, 1007
//     invalid UTF-8, 1009 too big) exactly that code is required, in a
//     close frame, followed by the server closing TCP. Dropping TCP without
//     a close frame fails the case. Part of a message may come before the
//     close (a server may stream its echo); a whole message may not.
//   - Invalid UTF-8 must fail fast (6.4.*): before the rest of the message,
//     and before the rest of a frame, is even sent.
//   - Closing: a close frame answers the client's close with 1000 or the
//     echoed code, after the echoes of every message before it, and
//     nothing that came after it is answered. Close codes 1012-1014 are
//     valid, as IANA registered them; codes above 4999 are not.
//   - A write that fails with EPIPE or ECONNRESET after the frame the
//     server should fail on is the server failing fast, not an error.
//
// Compression (groups 12 and 13): the client compresses with the standard
// library's compress/flate, and inflates what the server compresses with
// exactly the context the negotiated parameters allow (no dictionary
// without context takeover, the last 1<<bits bytes with it), so a server
// that keeps a context it gave up, or refers past its window across
// messages, fails. The server's answer to each offer must be one RFC 7692
// §7.1 allows (codec.ClientRequest.CheckResponse), messages of 16 bytes
// to 256 KiB must pass both ways under every combination of parameters
// and every window size from 9 to 15, fragmented too, and RSV1 on a
// continuation or control frame is a 1002, data that does not inflate a
// 1007, and a message inflating past the server's limit a 1009.
//
// Every network wait ends at the case's deadline, the client connects only
// to the loopback address it is given, and cases run a few at a time.
package conformance
