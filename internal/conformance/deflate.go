package conformance

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"

	"github.com/shoalws/shoal/codec"
)

// pmd is the client's side of permessage-deflate (RFC 7692) on one
// connection, written with the standard library's compress/flate, not
// the compressor shoal uses, so that the suite checks a server against an
// implementation of its own.
type pmd struct {
	resp codec.DeflateParams // what the server accepted

	// what the client sends: client_no_context_takeover and
	// client_max_window_bits as the server answered them
	sendTakeover bool
	sendBits     uint8
	sent         []byte // the last 1<<sendBits bytes compressed, with takeover

	// what the server sends
	recvTakeover bool
	recvBits     uint8
	received     []byte // the last 1<<recvBits bytes inflated, with takeover
}

func newPMD(resp codec.DeflateParams) *pmd {
	bits := func(b uint8) uint8 {
		if b == 0 {
			return codec.MaxWindowBits
		}
		return b
	}
	return &pmd{
		resp:         resp,
		sendTakeover: !resp.ClientNoContextTakeover,
		sendBits:     bits(resp.ClientMaxWindowBits),
		recvTakeover: !resp.ServerNoContextTakeover,
		recvBits:     bits(resp.ServerMaxWindowBits),
	}
}

// keepLast appends p to hist and keeps its last n bytes.
func keepLast(hist, p []byte, n int) []byte {
	hist = append(hist, p...)
	if len(hist) > n {
		hist = append(hist[:0], hist[len(hist)-n:]...)
	}
	return hist
}

// compress returns the payload of msg as the client sends it. With a
// window under 32 KiB it uses Huffman coding only: compress/flate cannot
// bound its match distances, and a stream without matches fits any
// window. With a full window it uses the messages before as context when
// the server let the client take over its context.
func (p *pmd) compress(msg []byte) []byte {
	var out bytes.Buffer
	var w *flate.Writer
	if p.sendBits < codec.MaxWindowBits {
		w, _ = flate.NewWriter(&out, flate.HuffmanOnly)
	} else {
		var dict []byte
		if p.sendTakeover {
			dict = p.sent
		}
		// Level 2: compress/flate's level 1 ignores a dictionary, and
		// higher ones cost the case's deadline seconds under -race.
		w, _ = flate.NewWriterDict(&out, 2, dict)
	}
	w.Write(msg)
	w.Flush()
	b := out.Bytes()
	if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
		panic("conformance: a sync flush that does not end in 0x00 0x00 0xff 0xff")
	}
	if p.sendTakeover {
		p.sent = keepLast(p.sent, msg, 1<<p.sendBits)
	}
	return b[:len(b)-4]
}

// inflate inflates a message the server compressed, with the context
// the negotiated parameters allow and no more: the window it inflates
// with holds only what the server may refer to, so a server that keeps a
// context it promised not to, or refers further back than its window,
// fails here.
func (p *pmd) inflate(payload []byte) ([]byte, error) {
	var dict []byte
	if p.recvTakeover {
		dict = p.received
	}
	in := io.MultiReader(bytes.NewReader(payload),
		bytes.NewReader([]byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}))
	msg, err := io.ReadAll(io.LimitReader(flate.NewReaderDict(in, dict), maxMessage))
	if err != nil {
		return nil, fmt.Errorf("the server's compressed message does not inflate under %s: %v",
			codec.AppendDeflate(nil, p.resp, false), err)
	}
	if p.recvTakeover {
		p.received = keepLast(p.received, msg, 1<<p.recvBits)
	}
	return msg, nil
}

// compressed returns msg as a compressed message in frames of at most
// size payload bytes: RSV1 on the first frame only (RFC 7692 §6.1).
func (s *session) compressed(op codec.Opcode, msg []byte, size int) []frame {
	s.t.Helper()
	if s.conn == nil {
		s.dial()
	}
	if s.pmd == nil {
		s.fatalf("the server did not accept permessage-deflate (offered %s)", s.offerString())
	}
	frames := fragments(op, s.pmd.compress(msg), size)
	frames[0].rsv = codec.Rsv1
	return frames
}

func (s *session) offerString() string {
	if s.offer == nil {
		return "nothing"
	}
	return string(codec.AppendDeflate(nil, *s.offer, true))
}
