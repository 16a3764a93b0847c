package conn

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/shoalws/shoal/codec"
)

// FuzzInput feeds arbitrary bytes, in two reads, to a connection that is
// open (or, with handshake set, still waiting for its request) and checks
// what comes out: messages within the limit, text that is UTF-8, frames
// the server may send, a close code valid on the wire, and exact byte
// accounting.
func FuzzInput(f *testing.F) {
	f.Add(cat(text("Hello"), cframe(codec.OpPing, true, "p")), 3, false)
	f.Add(cat(cframe(codec.OpText, false, "a\xf0"), cframe(codec.OpContinuation, true, "\x9f\x98\x80")), 7, false)
	f.Add(cat(cframe(codec.OpClose, true, "\x03\xe8bye"), text("after")), 2, false)
	f.Add(codec.AppendHeader(nil, codec.Header{Fin: true, Op: codec.OpBinary, Masked: true, Length: 1<<63 - 1}), 5, false)
	f.Add(cat([]byte(upgradeRequest), text("first")), 40, true)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 10, true)
	f.Fuzz(func(t *testing.T, in []byte, cut int, handshake bool) {
		const limit = 4096
		c := new(Conn)
		start := StateOpen
		if handshake {
			start = StateHandshake
		}
		budget := NewBudget(int64(limit))
		c.Init(&Config{MaxMessage: limit, MaxOutbound: 1 << 16, Partial: budget}, start)
		var r recorder
		cut = int(uint(cut) % uint(len(in)+1))
		buf := make([]byte, len(in)+256)
		for _, part := range [][]byte{in[:cut], in[cut:]} {
			n := c.TakeStash(buf)
			n += copy(buf[n:], part)
			c.Input(buf[:n], &r)
			for c.Paused() {
				c.Resume(&r)
			}
		}
		for _, m := range r.msgs {
			if len(m.data) > limit {
				t.Fatalf("delivered %d bytes, limit %d", len(m.data), limit)
			}
			if m.op == codec.OpText && !utf8.ValidString(m.data) {
				t.Fatalf("delivered invalid UTF-8 text %q", m.data)
			}
			if m.op != codec.OpText && m.op != codec.OpBinary {
				t.Fatalf("delivered opcode %v", m.op)
			}
		}
		c.SendClose() // the handler has seen every message
		queued := c.Queued()
		out := drain(c)
		// Every queued frame is charged its real memory, at least the
		// smallest buffer class and its bookkeeping.
		if (queued == 0) != (len(out) == 0) || queued < int64(len(out)) {
			t.Fatalf("queued %d bytes of memory but wrote %d", queued, len(out))
		}
		if c.Queued() != 0 {
			t.Fatalf("queued %d after writing everything", c.Queued())
		}
		if bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
			i := bytes.Index(out, []byte("\r\n\r\n"))
			if i < 0 {
				t.Fatalf("unterminated HTTP response %q", out)
			}
			if !bytes.HasPrefix(out, []byte("HTTP/1.1 101 ")) {
				return // a refusal: nothing follows it
			}
			out = out[i+4:]
		}
		checkServerOutput(t, out, c.State())
		c.SetClosed(nil)
		if c.stash != nil || c.msg != nil || c.HasOutput() {
			t.Fatal("closed conn still holds buffers")
		}
		if u := budget.Used(); u != 0 {
			t.Fatalf("closed conn still draws %d from the partial-message budget", u)
		}
	})
}

// checkServerOutput decodes what a server wrote: unmasked frames, control
// frames only (this conn sends no data of its own), a close last if any.
func checkServerOutput(t *testing.T, out []byte, st State) {
	t.Helper()
	sawClose := false
	pongs := 0
	for len(out) > 0 {
		h, n, err := codec.DecodeHeader(out)
		if err != nil || h.Masked || int64(len(out)-n) < h.Length {
			t.Fatalf("bad frame in output: %v % x", err, out)
		}
		p := out[n : n+int(h.Length)]
		out = out[n+int(h.Length):]
		if sawClose {
			t.Fatal("a frame follows the close frame")
		}
		switch h.Op {
		case codec.OpClose:
			sawClose = true
			if len(p) == 0 {
				continue
			}
			code, _, err := codec.ParseClose(p)
			if err != nil || !code.ValidOnWire() {
				t.Fatalf("server sent close payload % x: %v", p, err)
			}
		case codec.OpPong:
			// Nothing was written while the input came in.
			if pongs++; pongs > MaxWaitingPongs {
				t.Fatalf("more than %d pongs waited at once", MaxWaitingPongs)
			}
		default:
			t.Fatalf("server sent %v on its own", h.Op)
		}
	}
	if st == StateDraining && !sawClose {
		t.Fatal("draining after a frame error without a close frame")
	}
}
