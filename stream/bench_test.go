package stream_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// BenchmarkRoundTrip: one message in flight, client to an echo server
// over loopback TCP, both in this process. ns/op is a round trip.
func BenchmarkRoundTrip(b *testing.B) {
	for _, n := range []int{64, 16 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			c := dial(b, "ws://"+serveConn(b, nil, echo)+"/", nil)
			p := payload(n)
			b.SetBytes(int64(2 * n))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(codec.OpBinary, p); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream1MiB: 1 MiB messages one way, as fast as the server
// reads them through NextReader, which holds none of them whole.
func BenchmarkStream1MiB(b *testing.B) {
	opts := &stream.Options{MaxMessageSize: 1 << 20}
	url := "ws://" + serveConn(b, opts, drain) + "/"
	c := dial(b, url, opts)
	p := payload(1 << 20)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteMessage(codec.OpBinary, p); err != nil {
			b.Fatal(err)
		}
	}
	// Wait for the server to have read everything.
	if err := c.WriteMessage(codec.OpText, nil); err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); err != nil {
		b.Fatal(err)
	}
}

// drain reads binary messages through NextReader and discards them; a
// text message is answered, so a writer can tell all came through.
func drain(c *stream.Conn) {
	buf := make([]byte, 64<<10)
	for {
		op, r, err := c.NextReader()
		if err != nil {
			return
		}
		if op == codec.OpText {
			c.WriteMessage(codec.OpText, nil)
			continue
		}
		for err == nil {
			_, err = r.Read(buf)
		}
		if err != io.EOF {
			return
		}
	}
}
