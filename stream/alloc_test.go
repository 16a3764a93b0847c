package stream_test

import (
	"io"
	"testing"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// TestZeroAllocs: in steady state, a message round trip costs no
// allocation on either end: the client (masking) and the echo server
// (Server, unmasking) run in this process, so both count. Sizes cover the
// message read in place (64 B), through a pooled buffer with the payload
// masked in a pooled chunk and written vectored (16 KiB), the byte stream,
// and streamed messages.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	opts := &stream.Options{MaxMessageSize: 1 << 20}
	msgURL := "ws://" + serveConn(t, opts, echo) + "/"
	streamURL := "ws://" + serveConn(t, opts, streamEcho) + "/"
	p32k, p10k, hi := payload(32<<10), payload(10<<10), []byte("hi")
	small := roundTrip(10)
	for _, tc := range []struct {
		name string
		url  string
		run  func(c *stream.Conn) error
	}{
		{"message 64 B", msgURL, roundTrip(64)},
		{"message 16 KiB", msgURL, roundTrip(16 << 10)},
		{"message 1 MiB", msgURL, roundTrip(1 << 20)},
		{"ping and message", msgURL, func(c *stream.Conn) error {
			if err := c.Ping(hi); err != nil {
				return err
			}
			return small(c)
		}},
		{"byte stream 32 KiB", msgURL, func(c *stream.Conn) error {
			p := p32k
			if _, err := c.Write(p); err != nil {
				return err
			}
			_, err := io.ReadFull(c, p)
			return err
		}},
		{"streamed 100 KiB", streamURL, func(c *stream.Conn) error {
			p := p10k
			w, err := c.NextWriter(codec.OpBinary)
			if err != nil {
				return err
			}
			for range 10 {
				if _, err := w.Write(p); err != nil {
					return err
				}
			}
			if err := w.Close(); err != nil {
				return err
			}
			_, r, err := c.NextReader()
			if err != nil {
				return err
			}
			for {
				if _, err := r.Read(p); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.url, opts)
			var err error
			allocs := testing.AllocsPerRun(200, func() {
				if e := tc.run(c); e != nil && err == nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per round trip, want 0", allocs)
			}
		})
	}
}

// roundTrip writes a message of n bytes and reads its echo.
func roundTrip(n int) func(c *stream.Conn) error {
	p := payload(n)
	return func(c *stream.Conn) error {
		if err := c.WriteMessage(codec.OpBinary, p); err != nil {
			return err
		}
		_, _, err := c.ReadMessage()
		return err
	}
}
