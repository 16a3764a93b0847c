package conformance

import (
	"bytes"
	crand "crypto/rand"
	bin "encoding/binary"
	"math/rand/v2"
	"unicode/utf8"

	"github.com/shoalws/shoal/codec"
)

// frame is one frame a case sends. The client masks it with a fresh key
// when it goes out, unless it is raw or unmasked.
type frame struct {
	op       codec.Opcode
	fin      bool
	rsv      byte // RSV1-3 in place, as in codec.Header
	payload  []byte
	raw      []byte // sent exactly as is, for headers codec refuses to build
	unmasked bool
	// bad marks the frame the server is expected to fail the connection
	// on: from its first byte on, a write that finds the connection gone
	// is the server failing fast, not an error.
	bad bool
}

// payload is what the frame constructors take: string literals read best
// in the case tables ("\xce\xba" is bytes, as in Autobahn's Python 2), and
// generated payloads are []byte.
type payload interface{ ~string | ~[]byte }

func dataFrame[P payload](op codec.Opcode, fin bool, p P) frame {
	return frame{op: op, fin: fin, payload: []byte(p)}
}

// Whole messages, first fragments, continuations.
func text[P payload](p P) frame      { return dataFrame(codec.OpText, true, p) }
func binary[P payload](p P) frame    { return dataFrame(codec.OpBinary, true, p) }
func textStart[P payload](p P) frame { return dataFrame(codec.OpText, false, p) }
func cont[P payload](p P) frame      { return dataFrame(codec.OpContinuation, false, p) }
func contFin[P payload](p P) frame   { return dataFrame(codec.OpContinuation, true, p) }

// Control frames.
func ping[P payload](p P) frame { return dataFrame(codec.OpPing, true, p) }
func pong[P payload](p P) frame { return dataFrame(codec.OpPong, true, p) }

// closeFrame is a close frame with a code and reason. It does not go
// through codec.AppendClosePayload, which refuses the invalid codes and
// reasons the close cases need to send.
func closeFrame(code uint16, reason string) frame {
	p := bin.BigEndian.AppendUint16(nil, code)
	return dataFrame(codec.OpClose, true, append(p, reason...))
}

// closeRaw is a close frame with exactly payload p (none, one byte, ...).
func closeRaw[P payload](p P) frame { return dataFrame(codec.OpClose, true, p) }

// opcode is a final frame with any opcode, reserved ones included.
func opcode[P payload](op codec.Opcode, p P) frame { return dataFrame(op, true, p) }

// withRSV sets the three RSV bits to n, numbered as Autobahn does: n is
// the 3-bit value RSV1 RSV2 RSV3, so 4 is RSV1 alone and 1 is RSV3 alone.
func (f frame) withRSV(n int) frame {
	f.rsv = byte(n&7) << 4
	return f
}

// notFin clears FIN, for fragmented control frames.
func (f frame) notFin() frame {
	f.fin = false
	return f
}

// bad marks f as the frame the server must fail the connection on.
func bad(f frame) frame {
	f.bad = true
	return f
}

// rawFrame is a text frame header announcing length, hand-made because
// codec will not encode a length with the top bit set, followed by a mask
// key and tail (the start of a payload that can never be complete).
func rawFrame(length uint64, tail string) frame {
	b := []byte{0x80 | byte(codec.OpText), 0x80 | 127}
	b = bin.BigEndian.AppendUint64(b, length)
	b = append(b, 0x12, 0x34, 0x56, 0x78)
	return frame{raw: append(b, tail...), op: codec.OpText}
}

// appendWire appends f as it goes on the wire, masked with key.
func appendWire(dst []byte, f frame, key [4]byte) []byte {
	if f.raw != nil {
		return append(dst, f.raw...)
	}
	h := codec.Header{Fin: f.fin, Rsv: f.rsv, Op: f.op, Masked: !f.unmasked, Mask: key}
	return codec.AppendFrame(dst, h, f.payload)
}

// maskKeys returns n fresh masking keys. RFC 6455 §5.3: the key "MUST be
// derived from a strong source of entropy", new for every frame; a server
// must not be able to rely on any pattern in them.
func maskKeys(n int) [][4]byte {
	raw := make([]byte, 4*n)
	_, _ = crand.Read(raw) // never fails since Go 1.24
	keys := make([][4]byte, n)
	for i := range keys {
		copy(keys[i][:], raw[4*i:])
	}
	return keys
}

// fragments splits p into frames of size bytes: op with FIN clear first,
// then continuations, the last with FIN set. An empty p is one frame.
func fragments(op codec.Opcode, p []byte, size int) []frame {
	var out []frame
	for first := true; first || len(p) > 0; first = false {
		n := min(size, len(p))
		f := dataFrame(codec.OpContinuation, n == len(p), p[:n])
		if first {
			f.op = op
		}
		out = append(out, f)
		p = p[n:]
	}
	return out
}

// repeat is n bytes of s repeated, as Autobahn builds its payloads.
func repeat(s string, n int) []byte {
	return bytes.Repeat([]byte(s), n/len(s)+1)[:n]
}

// textOf returns n bytes of valid UTF-8 mixing ASCII with 2- and 3-byte
// code points, so that a server re-fragmenting or validating in pieces
// meets code points split at every offset. A code point cut by the
// length is replaced by ASCII.
func textOf(n int) []byte {
	p := repeat("BAsd7&jh23-κόσμε-€-", n)
	i := len(p)
	for i > 0 && !utf8.RuneStart(p[i-1]) {
		i--
	}
	if i > 0 && !utf8.FullRune(p[i-1:]) {
		for j := i - 1; j < len(p); j++ {
			p[j] = '*'
		}
	}
	return p
}

// binaryOf returns n pseudo-random bytes: a uniform payload would hide a
// server that drops, repeats or reorders part of a message.
func binaryOf(n int, seed uint64) []byte {
	r := rand.NewPCG(seed, 0x5eed)
	p := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		bin.LittleEndian.PutUint64(p[i:], r.Uint64())
	}
	return p[:n]
}
