package stream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// FuzzRead feeds arbitrary bytes, as the peer's frames, to a Conn in
// either role, read through any of the three read APIs, arriving in
// reads of sizes the fuzzer picks. The outcome must not depend on how
// the input is cut: the messages and the final error are those of
// ReadMessage given the whole input in one read. And what comes out must
// be sane: messages within the limit, text that is UTF-8, and frames
// written back (pongs, the close) that a peer can decode, masked as the
// role requires, ending in a close frame with a code valid on the wire.
func FuzzRead(f *testing.F) {
	for _, seed := range [][]byte{
		cat(masked(codec.OpText, true, "Hello"), masked(codec.OpPing, true, "p")),
		cat(masked(codec.OpText, false, "a\xf0"), masked(codec.OpContinuation, true, "\x9f\x98\x80")),
		cat(masked(codec.OpClose, true, "\x03\xe8bye"), masked(codec.OpText, true, "after")),
		codec.AppendHeader(nil, codec.Header{Fin: true, Op: codec.OpBinary, Masked: true, Length: 1<<63 - 1}),
		cat(masked(codec.OpBinary, false, "12345"), masked(codec.OpPong, true, ""), masked(codec.OpContinuation, true, "678")),
		cat(serverFrame(codec.OpText, true, []byte("server")), serverFrame(codec.OpClose, true, []byte("\x0f\xa0"))),
		masked(codec.OpText, true, "caf\xe9"),
	} {
		f.Add(seed, false, uint8(0), uint16(3))
		f.Add(seed, true, uint8(1), uint16(7))
		f.Add(seed, false, uint8(2), uint16(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, client bool, api uint8, cut uint16) {
		ref := readAll(t, in, client, readMessages, nil)
		got := readAll(t, in, client, readAPI(api%3), cuts(cut))
		if got.end != ref.end {
			t.Fatalf("ends with %q read whole, %q read in pieces", ref.end, got.end)
		}
		if !bytes.HasPrefix(got.data, ref.data) {
			t.Fatalf("read %q in pieces, %q whole", got.data, ref.data)
		}
		if got.api != readBytes && !equalMessages(got.msgs, ref.msgs) {
			t.Fatalf("messages %q in pieces, %q whole", got.msgs, ref.msgs)
		}
		checkWritten(t, ref.out, client)
		checkWritten(t, got.out, client)
	})
}

type readAPI uint8

const (
	readMessages readAPI = iota
	readStreamed
	readBytes
)

const fuzzLimit = 4096

type outcome struct {
	api  readAPI
	msgs []string // complete messages, opcode first
	data []byte   // the payload bytes read, in order
	end  string   // how reading ended
	out  []byte   // what the Conn wrote after the handshake
}

func equalMessages(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// cuts turns the fuzzer's number into read sizes: 1 to 16 bytes, cycling.
func cuts(seed uint16) []int {
	s := []int{int(seed&15) + 1, int(seed>>4&15) + 1, int(seed>>8&15) + 1, int(seed>>12) + 1}
	return s
}

func readAll(t *testing.T, in []byte, client bool, api readAPI, sizes []int) outcome {
	fc := &fuzzConn{in: in, sizes: sizes}
	var c *stream.Conn
	var err error
	opts := &stream.Options{MaxMessageSize: fuzzLimit, ReadBufferSize: 256, CloseTimeout: time.Second}
	ctx := context.Background()
	if client {
		fc.answer = true
		c, err = stream.Client(ctx, fc, "ws://fuzz/", opts)
	} else {
		fc.in = append([]byte(fuzzRequest), in...)
		c, err = stream.Server(ctx, fc, opts)
	}
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	fc.out.Reset()
	o := outcome{api: api}
	var end error
	buf := make([]byte, 300)
	switch api {
	case readMessages:
		for end == nil {
			var op codec.Opcode
			var p []byte
			if op, p, end = c.ReadMessage(); end == nil {
				checkMessage(t, op, p)
				o.msgs = append(o.msgs, op.String()+" "+string(p))
				o.data = append(o.data, p...)
			}
		}
	case readStreamed:
		for end == nil {
			var op codec.Opcode
			var r io.Reader
			if op, r, end = c.NextReader(); end != nil {
				break
			}
			var msg []byte
			for end == nil {
				var n int
				n, end = r.Read(buf[:1+len(msg)%len(buf)])
				msg = append(msg, buf[:n]...)
			}
			o.data = append(o.data, msg...)
			if end == io.EOF {
				end = nil
				checkMessage(t, op, msg)
				o.msgs = append(o.msgs, op.String()+" "+string(msg))
			}
		}
	case readBytes:
		for end == nil {
			var n int
			n, end = c.Read(buf[:1+len(o.data)%len(buf)])
			o.data = append(o.data, buf[:n]...)
		}
		if end == io.EOF {
			end = &codec.CloseError{Code: codec.StatusNormalClosure}
		}
	}
	o.end = describeEnd(end)
	c.Close()
	o.out = fc.out.Bytes()
	return o
}

// describeEnd names how reading ended so that the APIs compare: a normal
// close is the byte stream's io.EOF.
func describeEnd(err error) string {
	code, ok := codec.CloseCodeOf(err)
	var ce *codec.CloseError
	switch {
	case errors.As(err, &ce) && (code == 1000 || code == 1005):
		return "normal close"
	case ok:
		return strconv.Itoa(int(code)) + " " + err.Error()
	}
	return err.Error()
}

func checkMessage(t *testing.T, op codec.Opcode, p []byte) {
	if len(p) > fuzzLimit {
		t.Fatalf("a %d-byte message, limit %d", len(p), fuzzLimit)
	}
	if op == codec.OpText && !utf8.Valid(p) {
		t.Fatalf("text that is not UTF-8: %q", p)
	}
	if op != codec.OpText && op != codec.OpBinary {
		t.Fatalf("a message with opcode %v", op)
	}
}

// checkWritten decodes what a Conn wrote: whole frames, masked as its role
// requires, control frames only (it never writes data here), the last
// one a close frame if there is one, with nothing after it.
func checkWritten(t *testing.T, out []byte, client bool) {
	closed := false
	for len(out) > 0 {
		h, n, err := codec.DecodeHeader(out)
		if err != nil || int64(len(out)-n) < h.Length {
			t.Fatalf("wrote an undecodable frame: %v (% x)", err, out)
		}
		rules := codec.Rules{Role: codec.RoleServer}
		if !client {
			rules.Role = codec.RoleClient
		}
		if err := rules.Check(h); err != nil || !h.Op.IsControl() {
			t.Fatalf("wrote frame %+v: %v", h, err)
		}
		if closed {
			t.Fatal("wrote a frame after a close frame")
		}
		p := bytes.Clone(out[n : n+int(h.Length)])
		codec.Mask(h.Mask, 0, p)
		if h.Op == codec.OpClose {
			closed = true
			if _, _, err := codec.ParseClose(p); err != nil {
				t.Fatalf("wrote close payload % x: %v", p, err)
			}
		}
		out = out[n+int(h.Length):]
	}
}

const fuzzRequest = "GET / HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// fuzzConn is a net.Conn in memory: reads return in, in pieces of the
// given sizes, then io.EOF; writes are kept. With answer set it plays a
// server's handshake: its first read answers the request written to it.
type fuzzConn struct {
	in     []byte
	sizes  []int
	next   int
	answer bool
	out    bytes.Buffer
}

func (f *fuzzConn) Read(p []byte) (int, error) {
	if f.answer {
		f.answer = false
		var req codec.Request
		if _, err := codec.ParseRequest(f.out.Bytes(), 0, &req); err != nil {
			return 0, err
		}
		// The request's Key aliases out, which must not change meanwhile.
		f.in = append(codec.AppendAccept(nil, &req, ""), f.in...)
	}
	if len(f.in) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(f.sizes) > 0 {
		n = min(n, f.sizes[f.next%len(f.sizes)])
		f.next++
	}
	n = copy(p, f.in[:min(n, len(f.in))])
	f.in = f.in[n:]
	return n, nil
}

func (f *fuzzConn) Write(p []byte) (int, error)      { return f.out.Write(p) }
func (f *fuzzConn) Close() error                     { return nil }
func (f *fuzzConn) LocalAddr() net.Addr              { return fuzzAddr{} }
func (f *fuzzConn) RemoteAddr() net.Addr             { return fuzzAddr{} }
func (f *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (f *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

type fuzzAddr struct{}

func (fuzzAddr) Network() string { return "memory" }
func (fuzzAddr) String() string  { return "fuzz" }
