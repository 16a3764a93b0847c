package conn

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/bufpool"
)

// recorder is a Sink that keeps copies of what it is given.
type recorder struct {
	msgs     []message
	accept   func(req *codec.Request) (string, []byte, error)
	capacity int // refuse (pause) once this many messages are held; 0: no limit
	paths    []string
}

type message struct {
	op   codec.Opcode
	data string
}

func (r *recorder) Upgrade(c *Conn, req *codec.Request) (string, []byte, error) {
	r.paths = append(r.paths, string(req.Path))
	if r.accept != nil {
		return r.accept(req)
	}
	return "", nil, nil
}

func (r *recorder) Message(c *Conn, op codec.Opcode, data []byte, buf *bufpool.Buf) bool {
	r.msgs = append(r.msgs, message{op, string(data)})
	if buf != nil {
		buf.Release()
	}
	return r.capacity == 0 || len(r.msgs) < r.capacity
}

// gathered collects what Gather offers, like a writev that takes it all.
type gathered struct{ b []byte }

func (g *gathered) Add(b []byte) bool { g.b = append(g.b, b...); return true }

// drain writes out everything queued and returns it. Like the shard once
// the handler has seen every message (the recorder sees them at once), it
// first releases a pending close.
func drain(c *Conn) []byte {
	c.SendClose()
	var g gathered
	c.Gather(&g)
	c.Written(len(g.b))
	return g.b
}

// serverFrames decodes the unmasked frames a server wrote.
func serverFrames(t *testing.T, b []byte) []codec.Header {
	t.Helper()
	var hs []codec.Header
	for len(b) > 0 {
		h, n, err := codec.DecodeHeader(b)
		if err != nil {
			t.Fatalf("server wrote an undecodable frame: %v (% x)", err, b)
		}
		if h.Masked {
			t.Fatal("server frame is masked")
		}
		hs = append(hs, h)
		b = b[n+int(h.Length):]
	}
	return hs
}

// closeOf returns the code of the last frame written if it is a close.
func closeOf(t *testing.T, out []byte) codec.StatusCode {
	t.Helper()
	var code codec.StatusCode
	for len(out) > 0 {
		h, n, err := codec.DecodeHeader(out)
		if err != nil {
			t.Fatal(err)
		}
		p := out[n : n+int(h.Length)]
		if h.Op == codec.OpClose {
			code, _, err = codec.ParseClose(p)
			if err != nil {
				t.Fatalf("server sent a bad close payload: %v", err)
			}
		}
		out = out[n+int(h.Length):]
	}
	return code
}

// client frame builders
func cframe(op codec.Opcode, fin bool, payload string) []byte {
	h := codec.Header{Fin: fin, Op: op, Masked: true, Mask: [4]byte{0xA1, 0xB2, 0xC3, 0xD4}}
	return codec.AppendFrame(nil, h, []byte(payload))
}

func text(s string) []byte { return cframe(codec.OpText, true, s) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func openConn(cfg *Config) *Conn {
	c := new(Conn)
	if cfg == nil {
		cfg = &Config{}
	}
	c.Init(cfg, StateOpen)
	return c
}

const upgradeRequest = "GET /chat?room=a HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n" +
	"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

func TestHandshakeThenFirstFramesInSameRead(t *testing.T) {
	c := new(Conn)
	c.Init(&Config{}, StateHandshake)
	var r recorder
	c.Input(cat([]byte(upgradeRequest), text("hello")), &r)
	if c.State() != StateOpen {
		t.Fatalf("state %v, want open", c.State())
	}
	out := string(drain(c))
	if !strings.HasPrefix(out, "HTTP/1.1 101 ") || !strings.Contains(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
		t.Fatalf("response = %q", out)
	}
	if len(r.msgs) != 1 || r.msgs[0].data != "hello" || r.paths[0] != "/chat" {
		t.Fatalf("messages %v paths %v", r.msgs, r.paths)
	}
}

func TestHandshakeByteByByte(t *testing.T) {
	c := new(Conn)
	c.Init(&Config{}, StateHandshake)
	var r recorder
	in := cat([]byte(upgradeRequest), text("hi"))
	buf := make([]byte, 4096)
	for i := range in {
		n := c.TakeStash(buf)
		buf[n] = in[i]
		c.Input(buf[:n+1], &r)
	}
	if c.State() != StateOpen || len(r.msgs) != 1 || r.msgs[0].data != "hi" {
		t.Fatalf("state %v msgs %v", c.State(), r.msgs)
	}
}

func TestHandshakeRefused(t *testing.T) {
	tests := []struct {
		name   string
		req    string
		accept func(*codec.Request) (string, []byte, error)
		status string
	}{
		{"bad version", strings.Replace(upgradeRequest, "Version: 13", "Version: 8", 1), nil, "426"},
		{"origin refused by the server", upgradeRequest, func(*codec.Request) (string, []byte, error) { return "", nil, codec.ErrForbiddenOrigin }, "403"},
		{"refused with a header", upgradeRequest, func(*codec.Request) (string, []byte, error) {
			return "", []byte("WWW-Authenticate: Bearer\r\n"), &codec.HandshakeError{Status: 401, Reason: "who are you?"}
		}, "401"},
		{"plain http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", nil, "426"},
		{"garbage", "\x16\x03\x01\x02\x00", nil, "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := new(Conn)
			c.Init(&Config{}, StateHandshake)
			r := recorder{accept: tt.accept}
			c.Input([]byte(tt.req), &r)
			out := string(drain(c))
			if !strings.HasPrefix(out, "HTTP/1.1 "+tt.status+" ") {
				t.Fatalf("response = %q, want status %s", out, tt.status)
			}
			if c.State() != StateDraining || c.Err() == nil {
				t.Fatalf("state %v err %v", c.State(), c.Err())
			}
		})
	}
}

// TestHandshakeFields: header lines the sink adds go into the answer's
// header block, accepted or refused, before the blank line.
func TestHandshakeFields(t *testing.T) {
	fields := []byte("Set-Cookie: a=b\r\nX-Node: 7\r\n")
	for _, refuse := range []bool{false, true} {
		c := new(Conn)
		c.Init(&Config{}, StateHandshake)
		r := recorder{accept: func(*codec.Request) (string, []byte, error) {
			if refuse {
				return "", fields, &codec.HandshakeError{Status: 401, Reason: "log in first"}
			}
			return "", fields, nil
		}}
		c.Input([]byte(upgradeRequest), &r)
		out := string(drain(c))
		head, body, ok := strings.Cut(out, "\r\n\r\n")
		if !ok || !strings.HasSuffix(head, "\r\nSet-Cookie: a=b\r\nX-Node: 7") {
			t.Fatalf("refuse %v: answer %q", refuse, out)
		}
		if refuse && body != "log in first\n" {
			t.Fatalf("refusal body %q", body)
		}
		if !refuse && (body != "" || c.State() != StateOpen) {
			t.Fatalf("accepted: body %q, state %v", body, c.State())
		}
	}
}

func TestHeaderTooLarge(t *testing.T) {
	c := new(Conn)
	c.Init(&Config{MaxHeaderBytes: 1024}, StateHandshake)
	var r recorder
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 2000)
	c.Input([]byte(big), &r)
	if out := string(drain(c)); !strings.HasPrefix(out, "HTTP/1.1 431 ") {
		t.Fatalf("response = %q", out)
	}
}

func TestMessagesAndFragments(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []message
	}{
		{"one text", text("Hello"), []message{{codec.OpText, "Hello"}}},
		{"empty text", text(""), []message{{codec.OpText, ""}}},
		{"binary", cframe(codec.OpBinary, true, "\x00\xff"), []message{{codec.OpBinary, "\x00\xff"}}},
		{"two in one read", cat(text("a"), text("b")), []message{{codec.OpText, "a"}, {codec.OpText, "b"}}},
		{"three fragments", cat(cframe(codec.OpText, false, "Hel"), cframe(codec.OpContinuation, false, "lo, "), cframe(codec.OpContinuation, true, "world")),
			[]message{{codec.OpText, "Hello, world"}}},
		{"empty fragments", cat(cframe(codec.OpBinary, false, ""), cframe(codec.OpContinuation, true, "")),
			[]message{{codec.OpBinary, ""}}},
		{"code point split across fragments", cat(cframe(codec.OpText, false, "\xf0\x9f"), cframe(codec.OpContinuation, true, "\x98\x80")),
			[]message{{codec.OpText, "😀"}}},
		{"ping between fragments", cat(cframe(codec.OpText, false, "a"), cframe(codec.OpPing, true, "p"), cframe(codec.OpContinuation, true, "b")),
			[]message{{codec.OpText, "ab"}}},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 3, 7} {
			t.Run(fmt.Sprintf("%s/step%d", tt.name, step), func(t *testing.T) {
				c := openConn(nil)
				var r recorder
				feed(c, &r, tt.in, step)
				if fmt.Sprint(r.msgs) != fmt.Sprint(tt.want) {
					t.Fatalf("messages = %v, want %v", r.msgs, tt.want)
				}
				if c.State() != StateOpen || c.stash != nil || c.msg != nil {
					t.Fatalf("after the messages: state %v, stash %v, msg %v (an idle conn must hold no buffer)", c.State(), c.stash, c.msg)
				}
			})
		}
	}
}

// feed gives in to c in reads of step bytes (0: all at once), as a shard
// does: stash first, then new bytes.
func feed(c *Conn, s Sink, in []byte, step int) {
	if step == 0 {
		step = len(in)
	}
	buf := make([]byte, 64<<10)
	for off := 0; off < len(in); off += step {
		n := c.TakeStash(buf)
		m := copy(buf[n:], in[off:min(off+step, len(in))])
		c.Input(buf[:n+m], s)
	}
}

func TestPingAnsweredWithPong(t *testing.T) {
	c := openConn(nil)
	var r recorder
	feed(c, &r, cat(cframe(codec.OpPing, true, "are you there"), cframe(codec.OpPong, true, "unsolicited")), 0)
	out := drain(c)
	hs := serverFrames(t, out)
	if len(hs) != 1 || hs[0].Op != codec.OpPong || !bytes.HasSuffix(out, []byte("are you there")) {
		t.Fatalf("server wrote %v (%q), want one pong echoing the ping", hs, out)
	}
}

func TestProtocolErrorsCloseWithCode(t *testing.T) {
	unmasked := codec.AppendFrame(nil, codec.Header{Fin: true, Op: codec.OpText}, []byte("x"))
	huge := codec.AppendHeader(nil, codec.Header{Fin: true, Op: codec.OpBinary, Masked: true, Length: 1<<63 - 1})
	tests := []struct {
		name string
		in   []byte
		code codec.StatusCode
	}{
		{"unmasked client frame", unmasked, 1002},
		{"reserved opcode", cframe(0x3, true, ""), 1002},
		{"rsv bit", func() []byte { b := text("x"); b[0] |= codec.Rsv1; return b }(), 1002},
		{"ping of 126", cframe(codec.OpPing, true, strings.Repeat("p", 126)), 1002},
		{"fragmented ping", cframe(codec.OpPing, false, ""), 1002},
		{"continuation without a message", cframe(codec.OpContinuation, true, "x"), 1002},
		{"text inside a fragmented message", cat(cframe(codec.OpText, false, "a"), text("b")), 1002},
		{"frame of 2^63-1 bytes", huge, 1009},
		{"invalid UTF-8", text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"), 1007},
		{"UTF-8 truncated at message end", cat(cframe(codec.OpText, false, "ok"), cframe(codec.OpContinuation, true, "\xf0\x9f")), 1007},
		{"close of one byte", cframe(codec.OpClose, true, "\x03"), 1002},
		{"close code 1005", cframe(codec.OpClose, true, "\x03\xed"), 1002},
		{"close reason not UTF-8", cframe(codec.OpClose, true, "\x03\xe8\xff"), 1007},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openConn(nil)
			var r recorder
			feed(c, &r, cat(tt.in, text("after the error: must not be delivered")), 0)
			if got := closeOf(t, drain(c)); got != tt.code {
				t.Fatalf("close code %v, want %v", got, tt.code)
			}
			if c.State() != StateDraining {
				t.Fatalf("state %v, want draining", c.State())
			}
			if code, _ := codec.CloseCodeOf(c.Err()); code != tt.code {
				t.Fatalf("Err() = %v, want code %v", c.Err(), tt.code)
			}
			for _, m := range r.msgs {
				if strings.HasPrefix(m.data, "after") {
					t.Fatal("input after a protocol error was delivered")
				}
			}
		})
	}
}

// TestUTF8FailsFastAcrossFragments: an invalid first fragment fails the
// connection before the message's end arrives.
func TestUTF8FailsFastAcrossFragments(t *testing.T) {
	c := openConn(nil)
	var r recorder
	feed(c, &r, cframe(codec.OpText, false, "ok\xff"), 0)
	if got := closeOf(t, drain(c)); got != 1007 {
		t.Fatalf("close %v after the bad fragment, want 1007", got)
	}
}

func TestMessageSizeLimit(t *testing.T) {
	cfg := &Config{MaxMessage: 1000}
	t.Run("single frame at the limit", func(t *testing.T) {
		c := openConn(cfg)
		var r recorder
		feed(c, &r, cframe(codec.OpBinary, true, strings.Repeat("x", 1000)), 0)
		if len(r.msgs) != 1 || c.State() != StateOpen {
			t.Fatalf("msgs %d state %v", len(r.msgs), c.State())
		}
	})
	t.Run("single frame over", func(t *testing.T) {
		c := openConn(cfg)
		var r recorder
		// Only the header arrives: the limit is enforced on the announced
		// length, before any payload is read or buffered.
		feed(c, &r, codec.AppendHeader(nil, codec.Header{Fin: true, Op: codec.OpBinary, Masked: true, Length: 1001}), 0)
		if closeOf(t, drain(c)) != 1009 || c.msg != nil {
			t.Fatal("want 1009 with nothing buffered")
		}
	})
	t.Run("fragments adding up to over", func(t *testing.T) {
		c := openConn(cfg)
		var r recorder
		feed(c, &r, cat(cframe(codec.OpBinary, false, strings.Repeat("x", 600)), codec.AppendHeader(nil, codec.Header{Op: codec.OpContinuation, Masked: true, Length: 401})), 0)
		if closeOf(t, drain(c)) != 1009 {
			t.Fatal("want 1009")
		}
	})
}

// TestSlowLargeFrameBuffersOnlyWhatArrived: a peer announcing a big frame
// and trickling it costs the bytes it sent, not the bytes it announced.
func TestSlowLargeFrameBuffersOnlyWhatArrived(t *testing.T) {
	c := openConn(&Config{MaxMessage: 1 << 20})
	var r recorder
	frame := cframe(codec.OpBinary, true, strings.Repeat("z", 1<<20))
	feed(c, &r, frame[:14+100], 0)
	if c.msg == nil || cap(c.msg.B) > 4096 {
		t.Fatalf("buffered cap %d after 100 bytes of a 1 MiB frame", cap(c.msg.B))
	}
	feed(c, &r, frame[14+100:], 4096)
	if len(r.msgs) != 1 || len(r.msgs[0].data) != 1<<20 {
		t.Fatal("large message not delivered whole")
	}
}

func TestPeerCloseEchoed(t *testing.T) {
	c := openConn(nil)
	var r recorder
	feed(c, &r, cat(text("last"), cframe(codec.OpClose, true, "\x03\xe8bye"), text("ignored")), 0)
	out := drain(c)
	if code := closeOf(t, out); code != 1000 {
		t.Fatalf("echoed close %v, want 1000", code)
	}
	var ce *codec.CloseError
	if !errors.As(c.Err(), &ce) || ce.Code != 1000 || ce.Reason != "bye" {
		t.Fatalf("Err() = %v", c.Err())
	}
	if len(r.msgs) != 1 || c.State() != StateDraining {
		t.Fatalf("msgs %v state %v", r.msgs, c.State())
	}
	// An empty close is answered with an empty close.
	c = openConn(nil)
	feed(c, &r, cframe(codec.OpClose, true, ""), 0)
	if hs := serverFrames(t, drain(c)); len(hs) != 1 || hs[0].Op != codec.OpClose || hs[0].Length != 0 {
		t.Fatalf("answer to an empty close: %v", hs)
	}
}

// TestCloseWaitsForAnswers: a message and the peer's close in one read.
// The handler's answer, queued after Input returned, must leave before
// our close frame, and nothing may follow the close.
func TestCloseWaitsForAnswers(t *testing.T) {
	c := openConn(nil)
	var r recorder
	feed(c, &r, cat(text("question"), cframe(codec.OpClose, true, "\x03\xe8")), 0)
	if !c.ClosePending() || c.HasOutput() {
		t.Fatalf("pending %v, output %v: the close must wait for the answer", c.ClosePending(), c.HasOutput())
	}
	answer := bufpool.Get(32)
	answer.B = AppendFrame(answer.B, codec.RoleServer, codec.OpText, []byte("answer"))
	c.Admit(Cost(answer))
	if err := c.Enqueue(answer); err != nil {
		t.Fatalf("answer refused while the close is pending: %v", err)
	}
	c.SendClose()
	late := bufpool.Get(32)
	late.B = AppendFrame(late.B, codec.RoleServer, codec.OpText, []byte("late"))
	c.Admit(Cost(late))
	if err := c.Enqueue(late); !errors.Is(err, ErrClosed) {
		t.Fatalf("frame after the close accepted: %v", err)
	}
	hs := serverFrames(t, drain(c))
	if len(hs) != 2 || hs[0].Op != codec.OpText || hs[1].Op != codec.OpClose {
		t.Fatalf("wrote %v, want the answer then the close", hs)
	}
	if !c.CloseComplete() {
		t.Fatal("close handshake not complete")
	}
}

func TestServerInitiatedClose(t *testing.T) {
	c := openConn(nil)
	var r recorder
	b := bufpool.Get(16)
	b.B = AppendFrame(b.B, codec.RoleServer, codec.OpText, []byte("queued first"))
	if !c.Admit(Cost(b)) || c.Enqueue(b) != nil {
		t.Fatal("enqueue failed")
	}
	if err := c.Close(codec.StatusGoingAway, "shutting down"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(codec.StatusGoingAway, ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	late := bufpool.Get(16)
	late.B = AppendFrame(late.B, codec.RoleServer, codec.OpText, []byte("late"))
	c.Admit(Cost(late))
	if err := c.Enqueue(late); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after close = %v", err)
	}
	out := drain(c)
	hs := serverFrames(t, out)
	if len(hs) != 2 || hs[0].Op != codec.OpText || hs[1].Op != codec.OpClose || closeOf(t, out) != 1001 {
		t.Fatalf("wrote %v, want the queued text then close 1001", hs)
	}
	// While closing, messages still arrive and pings go unanswered.
	feed(c, &r, cat(text("in flight"), cframe(codec.OpPing, true, "")), 0)
	if len(r.msgs) != 1 || c.HasOutput() {
		t.Fatalf("msgs %v, output after our close: %v", r.msgs, c.HasOutput())
	}
	feed(c, &r, cframe(codec.OpClose, true, "\x03\xe9"), 0)
	if c.State() != StateDraining || c.HasOutput() {
		t.Fatalf("state %v after the peer's close (no second close may be sent)", c.State())
	}
	if c.Queued() != 0 {
		t.Fatalf("queued %d after all was written", c.Queued())
	}
}

func TestPauseAndResumeKeepsOrder(t *testing.T) {
	c := openConn(nil)
	r := recorder{capacity: 2}
	var in []byte
	for i := 0; i < 10; i++ {
		in = append(in, text(fmt.Sprint(i))...)
	}
	in = append(in, cframe(codec.OpText, false, "partial")...)
	feed(c, &r, in, 0)
	if !c.Paused() || len(r.msgs) != 2 {
		t.Fatalf("paused %v with %d messages, want paused at 2", c.Paused(), len(r.msgs))
	}
	for c.Paused() {
		r.capacity = len(r.msgs) + 3
		c.Resume(&r)
	}
	if len(r.msgs) != 10 {
		t.Fatalf("%d messages after resuming, want 10", len(r.msgs))
	}
	for i, m := range r.msgs {
		if m.data != fmt.Sprint(i) {
			t.Fatalf("message %d = %q: order lost", i, m.data)
		}
	}
	feed(c, &r, cframe(codec.OpContinuation, true, " done"), 0)
	if r.msgs[10].data != "partial done" {
		t.Fatalf("the message open at the pause came out as %q", r.msgs[10].data)
	}
}

func TestOutboundLimit(t *testing.T) {
	c := openConn(&Config{MaxOutbound: 100})
	// Below the limit a frame is admitted even if it passes it (one big
	// message must always be sendable); at the limit nothing is.
	if !c.Admit(60) || !c.Admit(50) || c.Admit(1) {
		t.Fatal("Admit does not respect the limit")
	}
	c.Unadmit(110)
	if !c.Admit(1000) {
		t.Fatal("a message larger than the limit is refused on an empty queue")
	}
	c.Unadmit(1000)
	if c.Queued() != 0 {
		t.Fatalf("queued %d", c.Queued())
	}
}

// TestPingFloodBounded: a peer that pings and never reads costs at most
// MaxWaitingPongs small buffers, whatever the limit and however many
// pings: past them the newest answer replaces the newest waiting pong
// (RFC 6455 §5.5.3). A burst below the bound is answered ping for ping.
func TestPingFloodBounded(t *testing.T) {
	for _, limit := range []int64{1000, 1 << 20} {
		c := openConn(&Config{MaxOutbound: limit})
		var r recorder
		for i := 0; i < 10000; i++ {
			feed(c, &r, cframe(codec.OpPing, true, fmt.Sprint(i)), 0)
		}
		if q, most := c.Queued(), int64(MaxWaitingPongs*(256+FrameOverhead)); q > most {
			t.Fatalf("limit %d: queued %d after 10,000 pings, want at most %d", limit, q, most)
		}
		hs := serverFrames(t, drain(c))
		if len(hs) != MaxWaitingPongs || hs[0].Op != codec.OpPong {
			t.Fatalf("limit %d: wrote %d frames, want %d pongs", limit, len(hs), MaxWaitingPongs)
		}
		if c.State() != StateOpen {
			t.Fatal("ping flood closed the connection")
		}
	}
	// Ten pings in one read get ten pongs, in order; the newest of the
	// bound answers the latest ping.
	c := openConn(nil)
	var r recorder
	var in []byte
	for i := 0; i < 10; i++ {
		in = append(in, cframe(codec.OpPing, true, fmt.Sprint(i))...)
	}
	feed(c, &r, in, 0)
	var g gathered
	c.Gather(&g)
	for i := 0; i < 10; i++ {
		want := string(cframeServer(codec.OpPong, fmt.Sprint(i)))
		if !strings.HasPrefix(string(g.b), want) {
			t.Fatalf("pong %d: output %q", i, g.b)
		}
		g.b = g.b[len(want):]
	}
}

func cframeServer(op codec.Opcode, payload string) []byte {
	return codec.AppendFrame(nil, codec.Header{Fin: true, Op: op}, []byte(payload))
}

// TestChargesRealMemory: the outbound queue counts what its frames hold,
// capacity and bookkeeping, not their wire length: an empty pong is 2
// bytes on the wire and a 256-byte buffer, a node and a header in memory.
func TestChargesRealMemory(t *testing.T) {
	if got := unsafe.Sizeof(outNode{}); got > nodeSize {
		t.Fatalf("outNode is %d bytes, charged as %d", got, nodeSize)
	}
	if got := unsafe.Sizeof(bufpool.Buf{}); got > bufHeader {
		t.Fatalf("bufpool.Buf is %d bytes, charged as %d", got, bufHeader)
	}
	c := openConn(nil)
	var r recorder
	feed(c, &r, cframe(codec.OpPing, true, ""), 0)
	if q := c.Queued(); q != 256+FrameOverhead {
		t.Fatalf("an empty pong is charged %d, want %d", q, 256+FrameOverhead)
	}
	drain(c)
	if q := c.Queued(); q != 0 {
		t.Fatalf("charged %d after everything was written", q)
	}
	// The queue refuses once its charge, not its wire bytes, reaches the
	// limit: 2-byte frames stop at limit/320, not at limit/2.
	c = openConn(&Config{MaxOutbound: 64 << 10})
	admitted := 0
	for {
		b := bufpool.Get(2)
		b.B = AppendFrame(b.B, codec.RoleServer, codec.OpBinary, nil)
		if !c.Admit(Cost(b)) {
			b.Release()
			break
		}
		c.Enqueue(b)
		admitted++
	}
	if want := (64 << 10) / (256 + FrameOverhead); admitted > want+1 {
		t.Fatalf("admitted %d empty frames under a 64 KiB limit, want at most %d", admitted, want+1)
	}
	c.SetClosed(nil)
	if q := c.Queued(); q != 0 {
		t.Fatalf("charged %d after close", q)
	}
}

// TestPartialBudget: messages being reassembled draw from a budget shared
// by every connection; the one that overdraws it is failed with 1013,
// and finishing or failing a message gives its memory back.
func TestPartialBudget(t *testing.T) {
	budget := NewBudget(64 << 10)
	cfg := &Config{Partial: budget}
	a, b := openConn(cfg), openConn(cfg)
	var r recorder
	feed(a, &r, cframe(codec.OpBinary, false, strings.Repeat("a", 20<<10)), 0)
	if !a.InputPending() || budget.Used() < 20<<10 {
		t.Fatalf("pending %v, budget used %d after a 20 KiB fragment", a.InputPending(), budget.Used())
	}
	feed(b, &r, cframe(codec.OpBinary, false, strings.Repeat("b", 40<<10)), 0)
	if b.State() != StateDraining || closeOf(t, drain(b)) != 1013 {
		t.Fatalf("overdrawing connection is %v, want failed with 1013", b.State())
	}
	if a.State() != StateOpen {
		t.Fatal("the connection within budget was failed")
	}
	feed(a, &r, cframe(codec.OpContinuation, true, "!"), 0)
	if len(r.msgs) != 1 || len(r.msgs[0].data) != 20<<10+1 || a.InputPending() {
		t.Fatalf("the message within budget: %d messages", len(r.msgs))
	}
	if u := budget.Used(); u != 0 {
		t.Fatalf("budget used %d with no message open", u)
	}
	// A half header is pending too: the peer owes the rest.
	feed(a, &r, []byte{0x82}, 0)
	if !a.InputPending() {
		t.Fatal("half a frame header is not pending input")
	}
}

// TestLargeMessageInChunks: a message arriving over many reads holds what
// was received, rounded up to a chunk, never a doubled buffer; it comes
// out whole and in order.
func TestLargeMessageInChunks(t *testing.T) {
	budget := NewBudget(0)
	c := openConn(&Config{Partial: budget})
	var r recorder
	payload := make([]byte, 5*ChunkSize+123)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	frame := cframe(codec.OpBinary, true, string(payload))
	for len(frame) > 0 {
		n := min(len(frame), 10_000)
		feed(c, &r, frame[:n], 0)
		frame = frame[n:]
		if got := int64(len(payload)+14-len(frame)) + ChunkSize + 2*bufHeader*int64(2+len(c.chunks())); len(frame) > 0 && budget.Used() > got {
			t.Fatalf("holds %d bytes after receiving %d", budget.Used(), len(payload)+14-len(frame))
		}
	}
	if len(r.msgs) != 1 || r.msgs[0].data != string(payload) {
		t.Fatalf("the chunked message came out wrong (%d messages)", len(r.msgs))
	}
	if budget.Used() != 0 || c.chunks() != nil {
		t.Fatalf("after delivery: %d bytes drawn, %d chunks", budget.Used(), len(c.chunks()))
	}
	// Failing in the middle gives every chunk back.
	feed(c, &r, cframe(codec.OpBinary, true, string(payload))[:3*ChunkSize], 0)
	c.Fail(codec.ErrMessageTooBig)
	if budget.Used() != 0 || c.chunks() != nil {
		t.Fatalf("after failing: %d bytes drawn, %d chunks", budget.Used(), len(c.chunks()))
	}
}

func TestEvictDropsUnstartedKeepsStarted(t *testing.T) {
	c := openConn(nil)
	for i := 0; i < 3; i++ {
		b := bufpool.Get(128)
		b.B = AppendFrame(b.B, codec.RoleServer, codec.OpBinary, bytes.Repeat([]byte{byte(i)}, 100))
		c.Admit(Cost(b))
		c.Enqueue(b)
	}
	c.Written(50) // the first frame is half out
	if err := c.Evict(codec.StatusPolicy, "slow consumer"); err != nil {
		t.Fatal(err)
	}
	out := drain(c)
	// the rest of frame 0 (52 bytes), then the close; frames 1 and 2 gone.
	if len(out) < 52 || closeOf(t, out[52:]) != 1008 || len(serverFrames(t, out[52:])) != 1 {
		t.Fatalf("after eviction wrote % x", out)
	}
	if c.Queued() != 0 {
		t.Fatalf("queued %d after eviction drained", c.Queued())
	}
}

func TestSetClosedReleasesEverything(t *testing.T) {
	c := openConn(nil)
	var r recorder
	feed(c, &r, cframe(codec.OpText, false, "half a message"), 0)
	feed(c, &r, []byte{0x81}, 0) // half a header: stashed
	b := bufpool.Get(16)
	b.B = AppendFrame(b.B, codec.RoleServer, codec.OpText, []byte("unsent"))
	c.Admit(Cost(b))
	c.Enqueue(b)
	c.SetClosed(nil)
	if c.msg != nil || c.stash != nil || c.HasOutput() || c.Queued() != 0 {
		t.Fatal("closed conn still holds buffers")
	}
	if !errors.Is(c.Err(), ErrPeerGone) {
		t.Fatalf("Err() = %v, want ErrPeerGone", c.Err())
	}
}

func TestInputZeroAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	c := openConn(nil)
	var r nopSink
	in := cat(text("hello, world"), cframe(codec.OpBinary, true, strings.Repeat("b", 1000)))
	buf := make([]byte, len(in))
	allocs := testing.AllocsPerRun(1000, func() {
		copy(buf, in)
		c.Input(buf, &r)
	})
	if allocs != 0 {
		t.Fatalf("Input of whole frames allocates %v times per run", allocs)
	}
	if r.n == 0 {
		t.Fatal("nothing delivered")
	}
}

type nopSink struct{ n int }

func (s *nopSink) Upgrade(*Conn, *codec.Request) (string, []byte, error) { return "", nil, nil }
func (s *nopSink) Message(_ *Conn, _ codec.Opcode, _ []byte, b *bufpool.Buf) bool {
	s.n++
	if b != nil {
		b.Release()
	}
	return true
}

func BenchmarkInput(b *testing.B) {
	c := openConn(nil)
	var s nopSink
	in := text(strings.Repeat("m", 64))
	buf := make([]byte, len(in))
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		copy(buf, in)
		c.Input(buf, &s)
	}
}

// TestNodeCacheTrim: the cache keeps the nodes traffic uses between trims
// and lets the rest of a burst's go.
func TestNodeCacheTrim(t *testing.T) {
	var nc NodeCache
	burst := make([]*outNode, 1000)
	for i := range burst {
		burst[i] = nc.get()
	}
	for _, n := range burst {
		nc.put(n)
	}
	if nc.Trim() != 0 || nc.Len() != 1000 {
		t.Fatalf("first trim after a burst dropped nodes: %d cached", nc.Len())
	}
	// Steady traffic takes 10 nodes at a time: 990 idle ones go.
	for round := 0; round < 3; round++ {
		for i := 0; i < 10; i++ {
			burst[i] = nc.get()
		}
		for i := 0; i < 10; i++ {
			nc.put(burst[i])
		}
	}
	if dropped := nc.Trim(); dropped != 990 || nc.Len() != 10 {
		t.Fatalf("trim dropped %d, %d cached; want 990 and 10", dropped, nc.Len())
	}
}
