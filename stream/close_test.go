package stream_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// TestCloseHandshake: the side that closes sends its code and reason,
// the other side's read returns them once it has answered, and both
// ends hang up. Read, as a byte stream, ends with io.EOF on a normal
// close and with the *codec.CloseError otherwise.
func TestCloseHandshake(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     codec.StatusCode
		reason   string
		byteRead bool
		want     error // what the server's read returns
	}{
		{"normal", codec.StatusNormalClosure, "", false, &codec.CloseError{Code: 1000}},
		{"normal, byte stream", codec.StatusNormalClosure, "", true, io.EOF},
		{"with reason", 4001, "bye now", false, &codec.CloseError{Code: 4001, Reason: "bye now"}},
		{"going away, byte stream", codec.StatusGoingAway, "", true, &codec.CloseError{Code: 1001}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan error, 1)
			url := serveHTTP(t, nil, func(c *stream.Conn) {
				var err error
				if tc.byteRead {
					_, err = c.Read(make([]byte, 10))
				} else {
					_, _, err = c.ReadMessage()
				}
				got <- err
				if err := c.WriteMessage(codec.OpText, []byte("late")); !errors.Is(err, net.ErrClosed) {
					t.Errorf("write after the peer's close: %v", err)
				}
			})
			c := dial(t, url, nil)
			if err := c.CloseWith(tc.code, tc.reason); err != nil {
				t.Fatal(err)
			}
			err := <-got
			var want, gotCE *codec.CloseError
			if errors.As(tc.want, &want) {
				if !errors.As(err, &gotCE) || *gotCE != *want {
					t.Errorf("server read %v, want %v", err, tc.want)
				}
			} else if err != tc.want {
				t.Errorf("server read %v, want %v", err, tc.want)
			}
			if err := c.Close(); err != stream.ErrClosed {
				t.Errorf("second Close: %v", err)
			}
			if err := c.WriteMessage(codec.OpText, nil); !errors.Is(err, net.ErrClosed) {
				t.Errorf("write after Close: %v", err)
			}
			if _, _, err := c.ReadMessage(); err == nil {
				t.Error("read after Close succeeded")
			}
		})
	}
}

// TestCloseWhileReading: Close from one goroutine while another is
// blocked reading; the reader sees the close handshake complete.
func TestCloseWhileReading(t *testing.T) {
	c := dial(t, serveHTTP(t, nil, echo), nil)
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		c.WriteMessage(codec.OpText, []byte("x"))
		_, _, err := c.ReadMessage() // the echo
		close(started)
		if err == nil {
			_, _, err = c.ReadMessage() // blocks until Close
		}
		errc <- err
	}()
	<-started
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; closeCode(err) != codec.StatusNormalClosure {
		t.Errorf("reader got %v, want the peer's 1000", err)
	}
}

// TestServerCloses: a server closing while its client reads; the client
// answers inside its read and waits for the server to hang up.
func TestServerCloses(t *testing.T) {
	closed := make(chan error, 1)
	url := serveHTTP(t, nil, func(c *stream.Conn) {
		c.WriteMessage(codec.OpText, []byte("bye"))
		closed <- c.CloseWith(codec.StatusGoingAway, "shutting down")
	})
	c := dial(t, url, nil)
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "bye" {
		t.Fatalf("%q %v", p, err)
	}
	_, _, err := c.ReadMessage()
	var ce *codec.CloseError
	if !errors.As(err, &ce) || ce.Code != codec.StatusGoingAway || ce.Reason != "shutting down" {
		t.Errorf("client read %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("server CloseWith: %v", err)
	}
}

// TestCloseUnansweredIsBounded: a peer that never answers the close, nor
// reads, holds Close no longer than the close timeout, even with a writer
// stuck on a full socket.
func TestCloseUnansweredIsBounded(t *testing.T) {
	url, conns := rawServer(t)
	c := dial(t, url, &stream.Options{CloseTimeout: 100 * time.Millisecond})
	accepted(t, conns) // never reads, never writes
	writeErr := make(chan error, 1)
	go func() { writeErr <- c.WriteMessage(codec.OpBinary, make([]byte, 64<<20)) }()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("the 64 MiB write to a peer that does not read succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stuck writer did not return")
	}
}

// TestPeerDrops: a peer that hangs up without a close frame ends reads
// with ErrConnLost (1006), for messages and the byte stream alike.
func TestPeerDrops(t *testing.T) {
	for _, byteStream := range []bool{false, true} {
		url, conns := rawServer(t)
		c := dial(t, url, nil)
		nc := accepted(t, conns)
		nc.Write(serverFrame(codec.OpBinary, false, []byte("half a mess")))
		nc.Close()
		var err error
		if byteStream {
			var b [100]byte
			n, _ := c.Read(b[:])
			if string(b[:n]) != "half a mess" {
				t.Errorf("read %q", b[:n])
			}
			_, err = c.Read(b[:])
		} else {
			_, _, err = c.ReadMessage()
		}
		if err != stream.ErrConnLost {
			t.Errorf("byte stream %v: %v, want ErrConnLost", byteStream, err)
		}
	}
}

// TestCloseWithBadCode: a code that may not be sent is refused, and the
// connection stays open.
func TestCloseWithBadCode(t *testing.T) {
	c := dial(t, serveHTTP(t, nil, echo), nil)
	for _, code := range []codec.StatusCode{1006, 1015, 999, 5000} {
		if err := c.CloseWith(code, ""); !errors.Is(err, codec.ErrCloseCodeNotSendable) {
			t.Errorf("CloseWith(%d): %v", code, err)
		}
	}
	if err := c.CloseWith(1000, string(make([]byte, 124))); !errors.Is(err, codec.ErrCloseReasonTooLong) {
		t.Errorf("long reason: %v", err)
	}
	c.WriteMessage(codec.OpText, []byte("still open"))
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "still open" {
		t.Fatalf("%q %v", p, err)
	}
}

// TestCloseCutsStreamedMessage: a close while another goroutine streams
// a message goes out after the frame being written; the writer's next
// writes fail with ErrClosed and its Close frees the next writer.
func TestCloseCutsStreamedMessage(t *testing.T) {
	url, conns := rawServer(t)
	c := dial(t, url, nil)
	nc := accepted(t, conns)
	w, err := c.NextWriter(codec.OpText)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(payload(6000))
	closed := make(chan error, 1)
	go func() { closed <- c.CloseWith(1001, "") }()
	h, _ := readFrame(t, nc)
	if h.Op != codec.OpText || h.Fin {
		t.Fatalf("first frame %+v", h)
	}
	h, p := readFrame(t, nc)
	if h.Op != codec.OpClose {
		t.Fatalf("second frame %+v, want the close", h)
	}
	nc.Write(serverFrame(codec.OpClose, true, p))
	nc.Close()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("more")); !errors.Is(err, net.ErrClosed) {
		// Staged, not yet sent: the error comes with Close.
		if err != nil {
			t.Errorf("write after the close: %v", err)
		}
	}
	if err := w.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("writer Close after the close: %v", err)
	}
	if err := c.WriteMessage(codec.OpText, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("next writer: %v", err)
	}
}
