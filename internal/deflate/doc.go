// Package deflate compresses and inflates WebSocket messages for
// permessage-deflate (RFC 7692), for any code that moves messages: the
// engine (conn, shard) and a blocking connection alike. It knows the
// negotiated parameters of one direction, not frames or sockets.
//
// Memory is the design. A DEFLATE compressor costs hundreds of KiB and an
// inflater tens, so neither belongs to a connection: compressors are lent
// by a bounded Pool for one message and given back, and an Inflater is
// reused by whoever inflates one message at a time (an engine shard). A
// direction that takes over its context (RFC 7692 §7.1.1) keeps only a
// Window: the last 1<<bits bytes of its uncompressed stream, the
// dictionary for its next message.
//
// Payloads are as on the wire: the compressed data of one message with
// the final four bytes of its sync flush (0x00 0x00 0xff 0xff) removed
// (§7.2.1), added back before inflating (§7.2.2).
package deflate
