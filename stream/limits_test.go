package stream_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
	"github.com/shoalws/shoal/stream"
)

func masked(op codec.Opcode, fin bool, p string) []byte { return wstest.Build(op, fin, []byte(p)) }

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// TestServerFailsPeer: what a client sends wrong fails the connection
// with the RFC's close code, in a close frame followed by the server
// hanging up, and the server's read returns the codec's error. Messages
// before the fault are read first.
func TestServerFailsPeer(t *testing.T) {
	const limit = 1000
	for _, tc := range []struct {
		name string
		in   []byte
		err  error
	}{
		{"frame over the limit", masked(codec.OpBinary, true, strings.Repeat("x", limit+1)), codec.ErrFrameTooBig},
		{"message over the limit", cat(masked(codec.OpBinary, false, strings.Repeat("x", 600)),
			masked(codec.OpContinuation, true, strings.Repeat("x", 401))), codec.ErrMessageTooBig},
		{"invalid UTF-8", masked(codec.OpText, true, "caf\xe9"), codec.ErrInvalidUTF8},
		{"UTF-8 cut at the end", cat(masked(codec.OpText, false, "a\xf0\x9f"), masked(codec.OpContinuation, true, "")), codec.ErrInvalidUTF8},
		{"reserved opcode", masked(3, true, ""), codec.ErrReservedOpcode},
		{"RSV1 without an extension", append([]byte{0x80 | 0x40 | 0x2, 0x80}, 1, 2, 3, 4), codec.ErrReservedBits},
		{"unmasked", serverFrame(codec.OpBinary, true, []byte("x")), codec.ErrUnmaskedFrame},
		{"continuation first", masked(codec.OpContinuation, true, "x"), codec.ErrUnexpectedContinuation},
		{"new message inside one", cat(masked(codec.OpText, false, "a"), masked(codec.OpText, true, "b")), codec.ErrExpectedContinuation},
		{"fragmented ping", masked(codec.OpPing, false, ""), codec.ErrControlFragmented},
		{"long ping", masked(codec.OpPing, true, strings.Repeat("p", 126)), codec.ErrControlTooLong},
		{"close code 999", masked(codec.OpClose, true, "\x03\xe7"), codec.ErrCloseCode},
		{"close payload of one byte", masked(codec.OpClose, true, "\x03"), codec.ErrClosePayload},
		{"close reason not UTF-8", masked(codec.OpClose, true, "\x03\xe8\xff"), codec.ErrInvalidUTF8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errc := make(chan error, 1)
			addr := serveConn(t, &stream.Options{MaxMessageSize: limit}, func(c *stream.Conn) {
				_, p, err := c.ReadMessage()
				if err != nil || string(p) != "ok" {
					errc <- err
					return
				}
				_, _, err = c.ReadMessage()
				errc <- err
			})
			cl, err := wstest.Dial(addr, "/")
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			cl.WriteRaw(cat(masked(codec.OpText, true, "ok"), tc.in))
			code, err := cl.ExpectClose()
			want, _ := codec.CloseCodeOf(tc.err)
			if err != nil || code != want {
				t.Errorf("close code %v, %v; want %v", code, err, want)
			}
			if err := <-errc; !errors.Is(err, tc.err) {
				t.Errorf("server read: %v, want %v", err, tc.err)
			}
		})
	}
}

// TestClientFailsPeer: a client fails a masked server frame with 1002 and
// waits for the server to hang up first.
func TestClientFailsPeer(t *testing.T) {
	url, conns := rawServer(t)
	c := dial(t, url, nil)
	nc := accepted(t, conns)
	bad := codec.AppendFrame(nil, codec.Header{Fin: true, Op: codec.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}}, []byte("x"))
	nc.Write(cat(serverFrame(codec.OpText, true, []byte("fine")), bad))
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "fine" {
		t.Fatalf("%q %v", p, err)
	}
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		errc <- err
	}()
	h, p := readFrame(t, nc)
	if !h.Masked || h.Op != codec.OpClose {
		t.Fatalf("client sent %+v", h)
	}
	if code, _, _ := codec.ParseClose(p); code != codec.StatusProtocolError {
		t.Errorf("close code %v", code)
	}
	nc.Close() // the server hangs up; the client's read returns
	if err := <-errc; !errors.Is(err, codec.ErrMaskedFrame) {
		t.Errorf("client read: %v", err)
	}
}

// TestReadDeadlineResumes: a read that times out in the middle of a
// message loses nothing; with the deadline moved, ReadMessage resumes,
// whether the message's payload had begun or only its first (empty)
// frame had come.
func TestReadDeadlineResumes(t *testing.T) {
	big := strings.Repeat("y", 10000)
	for _, tc := range []struct {
		name        string
		first, last []byte // frames
		cut         int    // how much of last is sent before the timeout
		want        string
	}{
		{"in the payload", masked(codec.OpText, false, "first part, "),
			masked(codec.OpContinuation, true, big), 3000, "first part, " + big},
		{"after an empty fragment", masked(codec.OpBinary, false, ""),
			masked(codec.OpContinuation, true, "rest"), 0, "rest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			written := make(chan struct{})
			timedOut := make(chan struct{})
			result := make(chan string, 1)
			addr := serveConn(t, nil, func(c *stream.Conn) {
				// On loopback a write that returned is in our receive
				// buffer: this read gets part of the message, then times out.
				<-written
				c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				_, _, err := c.ReadMessage()
				var ne interface{ Timeout() bool }
				if !errors.As(err, &ne) || !ne.Timeout() {
					result <- "first read: " + errorString(err)
					return
				}
				close(timedOut)
				c.SetReadDeadline(time.Time{})
				_, p, err := c.ReadMessage()
				if err != nil {
					result <- "second read: " + err.Error()
					return
				}
				result <- string(p)
			})
			cl, err := wstest.Dial(addr, "/")
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			cl.WriteRaw(cat(tc.first, tc.last[:tc.cut]))
			close(written)
			select {
			case <-timedOut:
			case r := <-result:
				t.Fatal(r)
			}
			cl.WriteRaw(tc.last[tc.cut:])
			if r := <-result; r != tc.want {
				t.Fatalf("got %.60q", r)
			}
		})
	}
}

func errorString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
