package codec

import (
	"encoding/binary"
	"io"
	"strconv"
)

// Opcode is a frame's opcode (RFC 6455 §5.2).
type Opcode byte

// Opcodes defined by RFC 6455 §11.8. Values 0x3-0x7 and 0xB-0xF are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (close, ping, pong or a
// reserved control opcode): "Control frames are identified by opcodes where
// the most significant bit of the opcode is 1" (RFC 6455 §5.5).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsReserved reports whether o has no meaning in RFC 6455.
func (o Opcode) IsReserved() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(o)) + ")"
}

// RSV bits as they sit in a frame's first byte; Header.Rsv holds them so.
const (
	Rsv1 byte = 0x40
	Rsv2 byte = 0x20
	Rsv3 byte = 0x10
)

// MaxHeaderSize is the largest a frame header can be: 2 bytes, an 8-byte
// extended length and a 4-byte mask key.
const MaxHeaderSize = 14

// MaxControlPayload is the largest payload of a control frame (RFC 6455 §5.5).
const MaxControlPayload = 125

// Header is a frame header. The payload follows it on the wire.
type Header struct {
	Fin    bool
	Rsv    byte // RSV1-3 in place: some of Rsv1|Rsv2|Rsv3
	Op     Opcode
	Masked bool
	Mask   [4]byte // meaningful only when Masked
	Length int64   // payload length in bytes
}

// Size returns the number of bytes h takes on the wire.
func (h Header) Size() int {
	n := 2
	switch {
	case h.Length > 0xFFFF:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// DecodeHeader decodes the frame header at the start of b. It reads no
// byte past the header and does not validate it: see Rules.Check.
//
// n is the header's size in bytes. If b ends before the header does, err
// is ErrNeedMore and n is the size known so far: at least n-len(b) more
// bytes are needed before the call can succeed. The only other error is
// ErrLengthOverflow or ErrNonMinimalLength for a length RFC 6455 §5.2
// forbids on the wire.
func DecodeHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return h, 2, ErrNeedMore
	}
	b0, b1 := b[0], b[1]
	h.Fin = b0&0x80 != 0
	h.Rsv = b0 & (Rsv1 | Rsv2 | Rsv3)
	h.Op = Opcode(b0 & 0x0F)
	h.Masked = b1&0x80 != 0

	n = 2
	length := int64(b1 & 0x7F)
	switch length {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h.Masked {
		n += 4
	}
	if len(b) < n {
		return h, n, ErrNeedMore
	}

	p := 2
	switch length {
	case 126:
		length = int64(binary.BigEndian.Uint16(b[2:4]))
		p = 4
		// "the minimal number of bytes MUST be used to encode the length"
		if length < 126 {
			return h, n, ErrNonMinimalLength
		}
	case 127:
		u := binary.BigEndian.Uint64(b[2:10])
		p = 10
		// "the most significant bit MUST be 0"
		if u>>63 != 0 {
			return h, n, ErrLengthOverflow
		}
		if u <= 0xFFFF {
			return h, n, ErrNonMinimalLength
		}
		length = int64(u)
	}
	h.Length = length
	if h.Masked {
		copy(h.Mask[:], b[p:p+4])
	}
	return h, n, nil
}

// EncodeHeader writes h to the start of dst and returns the number of
// bytes written, h.Size(). It fails with io.ErrShortBuffer if dst is
// shorter than that. The length is written in its minimal form; a negative
// Length is written as 0.
func EncodeHeader(dst []byte, h Header) (int, error) {
	n := h.Size()
	if len(dst) < n {
		return 0, io.ErrShortBuffer
	}
	b0 := byte(h.Op&0x0F) | h.Rsv&(Rsv1|Rsv2|Rsv3)
	if h.Fin {
		b0 |= 0x80
	}
	dst[0] = b0
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	p := 2
	switch {
	case h.Length > 0xFFFF:
		dst[1] = b1 | 127
		binary.BigEndian.PutUint64(dst[2:10], uint64(h.Length))
		p = 10
	case h.Length > 125:
		dst[1] = b1 | 126
		binary.BigEndian.PutUint16(dst[2:4], uint16(h.Length))
		p = 4
	case h.Length > 0:
		dst[1] = b1 | byte(h.Length)
	default:
		dst[1] = b1
	}
	if h.Masked {
		copy(dst[p:p+4], h.Mask[:])
	}
	return n, nil
}

// AppendHeader appends h to dst.
func AppendHeader(dst []byte, h Header) []byte {
	var buf [MaxHeaderSize]byte
	n, _ := EncodeHeader(buf[:], h)
	return append(dst, buf[:n]...)
}

// AppendFrame appends a whole frame to dst: h with h.Length set to
// len(payload), then the payload, masked with h.Mask if h.Masked. payload
// itself is not modified.
func AppendFrame(dst []byte, h Header, payload []byte) []byte {
	h.Length = int64(len(payload))
	dst = AppendHeader(dst, h)
	start := len(dst)
	dst = append(dst, payload...)
	if h.Masked {
		Mask(h.Mask, 0, dst[start:])
	}
	return dst
}

// Role is the side of a connection that receives the frames being checked.
type Role uint8

// The two ends of a WebSocket connection.
const (
	RoleServer Role = iota
	RoleClient
)

func (r Role) String() string {
	if r == RoleClient {
		return "client"
	}
	return "server"
}

// Rules are what a receiver checks a frame header against. The zero value
// is a server that negotiated no extension and sets no size limit.
type Rules struct {
	// Role is the receiving side. A server requires masked frames, a
	// client forbids them.
	Role Role
	// Rsv holds the RSV bits a negotiated extension has given a meaning.
	// RSV1 is permessage-deflate's "Per-Message Compressed" bit (RFC 7692
	// §6): it may be set only on the first frame of a data message.
	Rsv byte
	// MaxPayload, if positive, is the largest payload length accepted in
	// one frame; longer frames fail with ErrFrameTooBig (1009) before the
	// caller reads, let alone allocates, the payload.
	MaxPayload int64
}

// Check validates h against RFC 6455 §5.2 and §5.5 as seen by r.Role.
// Rules that need more than one frame (a continuation with no message
// open, a data frame inside a fragmented message) belong to the caller.
func (r Rules) Check(h Header) error {
	// "If an unknown opcode is received, the receiving endpoint MUST
	// _Fail the WebSocket Connection_."
	if h.Op.IsReserved() {
		return ErrReservedOpcode
	}
	// "MUST be 0 unless an extension is negotiated that defines meanings
	// for non-zero values."
	if h.Rsv&^r.Rsv != 0 {
		return ErrReservedBits
	}
	// RFC 7692 §6.1: "An endpoint MUST NOT set the "Per-Message
	// Compressed" bit of control frames and non-first fragments of a data
	// message. An endpoint receiving such a frame MUST _Fail the
	// WebSocket Connection_."
	if h.Rsv&Rsv1 != 0 && (h.Op.IsControl() || h.Op == OpContinuation) {
		return ErrMisplacedRsv1
	}
	// "The server MUST close the connection upon receiving a frame that is
	// not masked." / "A client MUST close a connection if it detects a
	// masked frame." (§5.1)
	if r.Role == RoleServer && !h.Masked {
		return ErrUnmaskedFrame
	}
	if r.Role == RoleClient && h.Masked {
		return ErrMaskedFrame
	}
	if h.Op.IsControl() {
		// "All control frames MUST have a payload length of 125 bytes or
		// less and MUST NOT be fragmented." (§5.5)
		if h.Length > MaxControlPayload {
			return ErrControlTooLong
		}
		if !h.Fin {
			return ErrControlFragmented
		}
	}
	if r.MaxPayload > 0 && h.Length > r.MaxPayload {
		return ErrFrameTooBig
	}
	return nil
}
