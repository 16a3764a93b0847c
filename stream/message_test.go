package stream_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
	"github.com/shoalws/shoal/stream"
)

// Boundary sizes: the 7-bit, 16-bit and 64-bit length encodings, the
// 4 KiB buffers, and a message much larger than either buffer.
var sizes = []int{0, 1, 125, 126, 4096 - 14, 4096, 65535, 65536, 1 << 20}

// TestEchoSizes sends messages of every boundary size and both types,
// through each endpoint (Accept, Server) and each echo (whole messages,
// streamed), with default and tiny buffers.
func TestEchoSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T, opts *stream.Options) string
	}{
		{"accept/message", func(t *testing.T, o *stream.Options) string { return serveHTTP(t, o, echo) }},
		{"accept/stream", func(t *testing.T, o *stream.Options) string { return serveHTTP(t, o, streamEcho) }},
		{"server/message", func(t *testing.T, o *stream.Options) string { return "ws://" + serveConn(t, o, echo) + "/" }},
		{"server/stream", func(t *testing.T, o *stream.Options) string { return "ws://" + serveConn(t, o, streamEcho) + "/" }},
	} {
		for _, buf := range []int{0, 256} {
			t.Run(fmt.Sprintf("%s/buf=%d", tc.name, buf), func(t *testing.T) {
				opts := &stream.Options{ReadBufferSize: buf, WriteBufferSize: buf}
				c := dial(t, tc.url(t, opts), opts)
				for _, n := range sizes {
					for _, op := range []codec.Opcode{codec.OpText, codec.OpBinary} {
						want := payload(n)
						if err := c.WriteMessage(op, want); err != nil {
							t.Fatal(err)
						}
						gotOp, got, err := c.ReadMessage()
						if err != nil || gotOp != op || !bytes.Equal(got, want) {
							t.Fatalf("%d bytes %v: got %v, %d bytes, %v", n, op, gotOp, len(got), err)
						}
					}
				}
			})
		}
	}
}

// TestWriteDoesNotModify: a client masks a copy, never the caller's slice.
func TestWriteDoesNotModify(t *testing.T) {
	c := dial(t, serveHTTP(t, nil, echo), nil)
	for _, n := range []int{10, 100 << 10} {
		p := payload(n)
		if err := c.WriteMessage(codec.OpBinary, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, payload(n)) {
			t.Fatalf("WriteMessage of %d bytes modified its input", n)
		}
		if _, got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("echo of %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
}

// TestServerFrames checks on the wire what a server-role Conn sends:
// a WriteMessage is one unmasked frame, a NextWriter message is frames
// of at most the write buffer, continuation after the first, FIN on the
// last, and an empty Close leaves an empty final frame.
func TestServerFrames(t *testing.T) {
	got := make(chan []codec.Header, 1)
	addr := serveConn(t, &stream.Options{WriteBufferSize: 1024}, func(c *stream.Conn) {
		c.WriteMessage(codec.OpText, []byte("one"))
		w, _ := c.NextWriter(codec.OpBinary)
		w.Write(payload(1000))
		w.Write(payload(1000))
		w.Write(payload(5000)) // fills the buffer (20 B), then 4980 B as a frame of their own
		w.Close()
		c.ReadMessage() // until the test is done
	})
	cl, err := wstest.Dial(addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var hs []codec.Header
	var total int64
	for {
		f, err := cl.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, f.Header)
		if f.Op != codec.OpText {
			total += f.Length
		}
		if f.Fin && f.Op != codec.OpText {
			break
		}
	}
	got <- hs
	if hs[0].Op != codec.OpText || !hs[0].Fin || hs[0].Length != 3 {
		t.Errorf("WriteMessage frame: %+v", hs[0])
	}
	if hs[1].Op != codec.OpBinary || hs[1].Fin {
		t.Errorf("first streamed frame: %+v", hs[1])
	}
	for i, h := range hs[2:] {
		if h.Op != codec.OpContinuation || h.Masked || h.Rsv != 0 {
			t.Errorf("frame %d: %+v", i+2, h)
		}
	}
	if total != 7000 {
		t.Errorf("streamed %d bytes, want 7000", total)
	}
	for _, h := range hs[1 : len(hs)-1] {
		if h.Length > 1024-codec.MaxHeaderSize && h.Length != 4980 {
			t.Errorf("staged frame of %d bytes with a 1 KiB buffer", h.Length)
		}
	}
}

// TestStreamingLarge moves an 8 MiB message, written in pieces of random
// sizes, and reads it back in pieces of random sizes: neither side holds
// it whole, and the limit (here 16 MiB) applies to the message.
func TestStreamingLarge(t *testing.T) {
	opts := &stream.Options{MaxMessageSize: 16 << 20}
	c := dial(t, serveHTTP(t, opts, streamEcho), opts)
	want := make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	errc := make(chan error, 1)
	go func() {
		w, err := c.NextWriter(codec.OpBinary)
		if err != nil {
			errc <- err
			return
		}
		for p := want; len(p) > 0; {
			k := min(len(p), 1+rng.IntN(100<<10))
			if _, err := w.Write(p[:k]); err != nil {
				errc <- err
				return
			}
			p = p[k:]
		}
		errc <- w.Close()
	}()
	op, r, err := c.NextReader()
	if err != nil || op != codec.OpBinary {
		t.Fatal(op, err)
	}
	var got bytes.Buffer
	buf := make([]byte, 70<<10)
	for {
		n, err := r.Read(buf[:1+rand.IntN(len(buf))])
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("got %d bytes back, want %d, equal %v", got.Len(), len(want), bytes.Equal(got.Bytes(), want))
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("read after the end: %d, %v", n, err)
	}
}

// TestNextReaderSkips: a message left half read is skipped by the next
// NextReader or ReadMessage.
func TestNextReaderSkips(t *testing.T) {
	c := dial(t, serveHTTP(t, nil, echo), nil)
	for _, m := range []string{"first message", "second", "third"} {
		if err := c.WriteMessage(codec.OpText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	_, r, err := c.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	var b [5]byte
	if n, err := r.Read(b[:]); n != 5 || err != nil || string(b[:]) != "first" {
		t.Fatalf("read %q, %v", b[:n], err)
	}
	if _, r, err = c.NextReader(); err != nil {
		t.Fatal(err)
	}
	if all, err := io.ReadAll(r); err != nil || string(all) != "second" {
		t.Fatalf("second message %q, %v", all, err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "third" {
		t.Fatalf("third message %q, %v", p, err)
	}
}

// TestConcurrentWriters: messages written from several goroutines at
// once, and one streamed meanwhile, arrive whole and each writer's in
// order.
func TestConcurrentWriters(t *testing.T) {
	const writers, each = 4, 200
	c := dial(t, serveHTTP(t, nil, echo), nil)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				msg := fmt.Sprintf("w%d-%04d-%s", w, i, bytes.Repeat([]byte{'x'}, i*37%3000))
				if err := c.WriteMessage(codec.OpText, []byte(msg)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		w, err := c.NextWriter(codec.OpBinary)
		if err != nil {
			t.Error(err)
			return
		}
		for range 100 {
			w.Write(payload(777))
		}
		w.Close()
	})
	next := make([]int, writers)
	streamed := false
	for range writers*each + 1 {
		op, p, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if op == codec.OpBinary {
			if len(p) != 77700 || streamed {
				t.Fatalf("streamed message: %d bytes, seen before %v", len(p), streamed)
			}
			streamed = true
			continue
		}
		var w, i int
		if _, err := fmt.Sscanf(string(p), "w%d-%04d-", &w, &i); err != nil {
			t.Fatalf("message %.40q: %v", p, err)
		}
		if i != next[w] || len(p) != len(fmt.Sprintf("w%d-%04d-", w, i))+i*37%3000 {
			t.Fatalf("writer %d: message %d (%d bytes), want %d", w, i, len(p), next[w])
		}
		next[w]++
	}
	wg.Wait()
}

// TestPingPong: pings are answered inside reads, hooks see pings and
// pongs, and a ping in the middle of a fragmented message neither breaks
// the message nor waits for its end.
func TestPingPong(t *testing.T) {
	pings := make(chan string, 10)
	opts := &stream.Options{OnPing: func(p []byte) { pings <- string(p) }}
	addr := serveConn(t, opts, echo)
	cl, err := wstest.Dial(addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.WriteFrame(codec.OpText, false, []byte("hel"))
	cl.WriteFrame(codec.OpPing, true, []byte("are you there"))
	f, err := cl.ReadFrame()
	if err != nil || f.Op != codec.OpPong || string(f.Payload) != "are you there" {
		t.Fatalf("pong: %+v %q, %v", f.Header, f.Payload, err)
	}
	if p := <-pings; p != "are you there" {
		t.Errorf("OnPing saw %q", p)
	}
	cl.WriteFrame(codec.OpContinuation, true, []byte("lo"))
	if op, p, err := cl.ReadMessage(); err != nil || op != codec.OpText || string(p) != "hello" {
		t.Fatalf("echo %v %q %v", op, p, err)
	}

	pongs := make(chan string, 1)
	c := dial(t, "ws://"+addr+"/", &stream.Options{OnPong: func(p []byte) { pongs <- string(p) }})
	if err := c.Ping([]byte("ping!")); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(codec.OpText, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "after" {
		t.Fatalf("%q %v", p, err)
	}
	if p := <-pongs; p != "ping!" {
		t.Errorf("OnPong saw %q", p)
	}
	if err := c.Ping(make([]byte, 126)); err != stream.ErrControlTooLong {
		t.Errorf("126-byte ping: %v", err)
	}
}

func TestWriteOpcodes(t *testing.T) {
	c := dial(t, serveHTTP(t, nil, echo), nil)
	for _, op := range []codec.Opcode{codec.OpContinuation, codec.OpClose, codec.OpPing, codec.OpPong, 3} {
		if err := c.WriteMessage(op, nil); err != stream.ErrOpcode {
			t.Errorf("WriteMessage(%v): %v", op, err)
		}
		if _, err := c.NextWriter(op); err != stream.ErrOpcode {
			t.Errorf("NextWriter(%v): %v", op, err)
		}
	}
}

// TestPongBetweenFragments: while one goroutine streams a message and
// holds it open, the reader answers a ping at once: the pong goes out
// between the message's frames.
func TestPongBetweenFragments(t *testing.T) {
	holding := make(chan struct{})
	release := make(chan struct{})
	addr := serveConn(t, nil, func(c *stream.Conn) {
		go func() {
			w, _ := c.NextWriter(codec.OpBinary)
			w.Write(payload(5000)) // a frame of its own
			close(holding)
			<-release
			w.Write([]byte("end"))
			w.Close()
		}()
		c.ReadMessage() // answers the ping; returns at the close
	})
	cl, err := wstest.Dial(addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	<-holding
	cl.WriteFrame(codec.OpPing, true, []byte("now"))
	var seq []string
	for len(seq) < 3 {
		f, err := cl.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, fmt.Sprintf("%v/%v/%d", f.Op, f.Fin, len(f.Payload)))
		if f.Op == codec.OpPong {
			close(release)
		}
	}
	if got := fmt.Sprint(seq); got != "[binary/false/5000 pong/true/3 continuation/true/3]" {
		t.Errorf("frames %s", got)
	}
	cl.WriteFrame(codec.OpClose, true, nil)
}
