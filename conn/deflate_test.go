package conn

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/chatjson"
	"github.com/shoalws/shoal/internal/deflate"
)

var (
	noContext  = deflate.Params{Send: deflate.Direction{Bits: 15}, Recv: deflate.Direction{Bits: 15}}
	bothWindow = deflate.Params{Send: deflate.Direction{Takeover: true, Bits: 10}, Recv: deflate.Direction{Takeover: true, Bits: 9}}
)

// compressedFrames is msg compressed (by the standard library, with
// dict as context) as a client sends it, in frames of at most size
// payload bytes, RSV1 on the first.
func compressedFrames(t testing.TB, op codec.Opcode, msg, dict []byte, size int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, _ := stdflate.NewWriterDict(&out, stdflate.DefaultCompression, dict) // level 1 ignores a dictionary
	w.Write(msg)
	w.Flush()
	p := out.Bytes()[:out.Len()-4]
	var wire []byte
	for first := true; first || len(p) > 0; first = false {
		n := min(size, len(p))
		h := codec.Header{Fin: n == len(p), Op: codec.OpContinuation, Masked: true, Mask: [4]byte{1, 2, 3, 4}}
		if first {
			h.Op, h.Rsv = op, codec.Rsv1
		}
		wire = codec.AppendFrame(wire, h, p[:n])
		p = p[n:]
	}
	return wire
}

func deflateConn(p deflate.Params, limit int64) *Conn {
	c := new(Conn)
	c.Init(&Config{MaxMessage: limit, Deflate: &Deflate{Threshold: 16, Pool: deflate.NewPool(1, 4)}}, StateOpen)
	c.SetDeflate(p)
	return c
}

func TestExtPacking(t *testing.T) {
	for _, st := range []bool{false, true} {
		for _, rt := range []bool{false, true} {
			for sb := uint8(8); sb <= 15; sb++ {
				for rb := uint8(8); rb <= 15; rb++ {
					p := deflate.Params{Send: deflate.Direction{Takeover: st, Bits: sb}, Recv: deflate.Direction{Takeover: rt, Bits: rb}}
					e := makeExt(p)
					if !e.negotiated() || e.sendTakeover() != st || e.sendBits() != sb || e.recvTakeover() != rt ||
						(rt && e.recvBits() != rb) || e.sharesFrames() != (!st && sb == 15) || e.needsWindows() != (st || rt) {
						t.Fatalf("%+v packs to %08b, which reads back wrong", p, e)
					}
				}
			}
		}
	}
	var none ext
	if none.negotiated() || none.sharesFrames() || none.sendTakeover() || none.recvTakeover() {
		t.Fatal("the zero ext negotiates something")
	}
}

func TestInputCompressed(t *testing.T) {
	msgs := chatjson.Messages(11, 30)
	for _, p := range []deflate.Params{noContext, bothWindow} {
		for _, frameSize := range []int{1 << 20, 100, 7} {
			c := deflateConn(p, 1<<20)
			var r recorder
			var sent []byte
			var wire []byte
			for i, m := range msgs {
				var dict []byte
				if p.Recv.Takeover {
					dict = sent[max(0, len(sent)-512):]
				}
				if i%5 == 4 {
					wire = append(wire, text(string(m))...) // plain, outside the context
					continue
				}
				wire = append(wire, compressedFrames(t, codec.OpText, m, dict, frameSize)...)
				sent = append(sent, m...)
			}
			// In reads of 1000 bytes, so frames and headers are cut.
			buf := make([]byte, 2000)
			for len(wire) > 0 {
				n := c.TakeStash(buf)
				k := copy(buf[n:n+1000], wire)
				wire = wire[k:]
				c.Input(buf[:n+k], &r)
			}
			if c.State() != StateOpen || len(r.msgs) != len(msgs) {
				t.Fatalf("%+v, frames of %d: %d messages, state %v, err %v", p, frameSize, len(r.msgs), c.State(), c.Err())
			}
			for i, m := range msgs {
				if r.msgs[i].data != string(m) || r.msgs[i].op != codec.OpText {
					t.Fatalf("%+v, frames of %d: message %d differs", p, frameSize, i)
				}
			}
			c.SetClosed(nil)
			if len(c.cfg.DeflateScratch.windows) != 0 {
				t.Fatal("a closed conn's windows are kept")
			}
		}
	}
}

func TestInputCompressedErrors(t *testing.T) {
	bomb := compressedFrames(t, codec.OpBinary, make([]byte, 10<<20), nil, 1<<20)
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"not DEFLATE", codec.AppendFrame(nil, codec.Header{Fin: true, Rsv: codec.Rsv1, Op: codec.OpBinary, Masked: true}, []byte{0xff, 0xff, 0xff}), codec.ErrBadCompressed},
		{"invalid UTF-8 inside", compressedFrames(t, codec.OpText, []byte("ok \xff"), nil, 100), codec.ErrInvalidUTF8},
		{"bomb", bomb, codec.ErrMessageTooBig},
		{"bomb in pieces", compressedFrames(t, codec.OpBinary, make([]byte, 10<<20), nil, 1000), codec.ErrMessageTooBig},
		{"RSV1 on a continuation", cat(cframe(codec.OpText, false, "a"),
			codec.AppendFrame(nil, codec.Header{Fin: true, Rsv: codec.Rsv1, Op: codec.OpContinuation, Masked: true}, []byte("b"))), codec.ErrMisplacedRsv1},
		{"RSV1 on a ping", codec.AppendFrame(nil, codec.Header{Fin: true, Rsv: codec.Rsv1, Op: codec.OpPing, Masked: true}, nil), codec.ErrMisplacedRsv1},
	}
	for _, tt := range tests {
		c := deflateConn(noContext, 1<<20)
		var r recorder
		c.Input(tt.in, &r)
		if !errors.Is(c.Err(), tt.err) || len(r.msgs) != 0 {
			t.Errorf("%s: err %v, %d messages; want %v", tt.name, c.Err(), len(r.msgs), tt.err)
		}
	}
	// Without compression negotiated, RSV1 is a reserved bit.
	c := openConn(nil)
	c.Input(compressedFrames(t, codec.OpText, []byte("hello"), nil, 100), &recorder{})
	if !errors.Is(c.Err(), codec.ErrReservedBits) {
		t.Errorf("RSV1 unnegotiated: %v", c.Err())
	}
}

// A compressed message whose wire size passes the limit only by the
// overhead of stored blocks is taken: the limit holds what it inflates to.
func TestInputCompressedAtLimit(t *testing.T) {
	const limit = 1 << 20
	msg := make([]byte, limit)
	for i := range msg {
		msg[i] = byte(i*7919>>3 ^ i>>11) // poorly compressible
	}
	var out bytes.Buffer
	w, _ := stdflate.NewWriter(&out, stdflate.NoCompression)
	w.Write(msg)
	w.Flush()
	p := out.Bytes()[:out.Len()-4]
	if len(p) <= limit {
		t.Fatalf("stored blocks of %d bytes: %d on the wire", limit, len(p))
	}
	c := deflateConn(noContext, limit)
	var r recorder
	c.Input(codec.AppendFrame(nil, codec.Header{Fin: true, Rsv: codec.Rsv1, Op: codec.OpBinary, Masked: true}, p), &r)
	if len(r.msgs) != 1 || r.msgs[0].data != string(msg) {
		t.Fatalf("%d messages, err %v", len(r.msgs), c.Err())
	}
}

// stdInflater inflates a server's compressed messages with the standard
// library, keeping the window the parameters say.
type stdInflater struct {
	takeover bool
	bits     uint8
	hist     []byte
}

func (s *stdInflater) message(t *testing.T, h codec.Header, p []byte) []byte {
	t.Helper()
	if h.Rsv&codec.Rsv1 == 0 {
		return p
	}
	var dict []byte
	if s.takeover {
		dict = s.hist
	}
	r := stdflate.NewReaderDict(io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")), dict)
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("a compressed frame does not inflate with a window of %d bytes: %v", len(dict), err)
	}
	if s.takeover {
		s.hist = append(s.hist, out...)
		s.hist = s.hist[max(0, len(s.hist)-1<<s.bits):]
	}
	return out
}

func TestSendCompressed(t *testing.T) {
	msgs := append(chatjson.Messages(12, 20), []byte("short"))
	for _, p := range []deflate.Params{noContext, bothWindow} {
		for _, role := range []codec.Role{codec.RoleServer, codec.RoleClient} {
			c := deflateConn(p, 1<<20)
			if role == codec.RoleClient {
				c.SetClient()
			}
			for _, m := range msgs {
				b := c.EncodeMessage(codec.OpText, m)
				if !c.Admit(Cost(b)) {
					t.Fatal("not admitted")
				}
				if err := c.Enqueue(b); err != nil {
					t.Fatal(err)
				}
			}
			var g gathered
			c.Gather(&g)
			c.Written(len(g.b))
			if c.Queued() != 0 {
				t.Fatalf("%d bytes still counted as queued", c.Queued())
			}
			in := &stdInflater{takeover: p.Send.Takeover, bits: p.Send.Bits}
			out := g.b
			for i, m := range msgs {
				h, n, err := codec.DecodeHeader(out)
				if err != nil || h.Masked != (role == codec.RoleClient) {
					t.Fatalf("frame %d: %v, masked %v", i, err, h.Masked)
				}
				payload := append([]byte(nil), out[n:n+int(h.Length)]...)
				out = out[n+int(h.Length):]
				codec.Mask(h.Mask, 0, payload)
				if compressed := h.Rsv&codec.Rsv1 != 0; compressed != (len(m) >= 16) {
					t.Fatalf("%+v %v: a message of %d bytes compressed %v", p, role, len(m), compressed)
				}
				if got := in.message(t, h, payload); !bytes.Equal(got, m) {
					t.Fatalf("%+v %v: message %d differs", p, role, i)
				}
			}
		}
	}
}

func TestInputCompressedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	c := deflateConn(noContext, 1<<20)
	in := compressedFrames(t, codec.OpText, chatjson.Messages(13, 1)[0], nil, 1<<20)
	buf := make([]byte, len(in))
	var r nopSink
	allocs := testing.AllocsPerRun(500, func() {
		copy(buf, in)
		c.Input(buf, &r)
	})
	if allocs != 0 || r.n == 0 {
		t.Fatalf("compressed Input allocates %v times per message (%d delivered)", allocs, r.n)
	}
}

// FuzzInputDeflate is FuzzInput on a connection that negotiated
// permessage-deflate: the inflate path with the frame layer. Whatever
// comes in, what is delivered is within the limit (a bomb stops there),
// text is UTF-8, and a closed connection keeps nothing.
func FuzzInputDeflate(f *testing.F) {
	msg := chatjson.Messages(14, 1)[0]
	f.Add(compressedFrames(f, codec.OpText, msg, nil, 1<<20), 5, uint8(0))
	f.Add(compressedFrames(f, codec.OpText, msg, nil, 50), 100, uint8(3))
	f.Add(cat(compressedFrames(f, codec.OpBinary, make([]byte, 100000), nil, 1<<20), text("after")), 9, uint8(1))
	f.Add(cat(compressedFrames(f, codec.OpText, msg, nil, 1<<20), compressedFrames(f, codec.OpText, msg, msg, 1<<20)), 300, uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, cut int, mode uint8) {
		const limit = 4096
		p := noContext
		p.Recv.Takeover = mode&1 != 0
		p.Recv.Bits = 8 + (mode>>1)&7
		c := deflateConn(p, limit)
		var r recorder
		cut = int(uint(cut) % uint(len(in)+1))
		buf := make([]byte, len(in)+256)
		for _, part := range [][]byte{in[:cut], in[cut:]} {
			n := c.TakeStash(buf)
			n += copy(buf[n:], part)
			c.Input(buf[:n], &r)
		}
		for _, m := range r.msgs {
			if len(m.data) > limit {
				t.Fatalf("delivered %d bytes, limit %d", len(m.data), limit)
			}
			if m.op == codec.OpText && !utf8.ValidString(m.data) {
				t.Fatalf("delivered invalid UTF-8 text %q", m.data)
			}
		}
		var pe *codec.ProtocolError
		if errors.As(c.Err(), &pe) && !pe.Code.ValidOnWire() {
			t.Fatalf("failed with %v", pe)
		}
		c.SetClosed(nil)
		if s := c.cfg.DeflateScratch; c.stash != nil || c.msg != nil || (s != nil && len(s.windows) != 0) {
			t.Fatal("closed conn still holds buffers or windows")
		}
	})
}
