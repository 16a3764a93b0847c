package stream_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// TestByteStream: Write calls are messages, Read drains them across
// message boundaries, text included, with any read size; a Write longer
// than the message limit goes out as several messages.
func TestByteStream(t *testing.T) {
	const limit = 1000
	opts := &stream.Options{MaxMessageSize: limit}
	got := make(chan []int, 1)
	url := serveHTTP(t, opts, func(c *stream.Conn) {
		var sizes []int
		for {
			op, p, err := c.ReadMessage()
			if err != nil {
				got <- sizes
				return
			}
			sizes = append(sizes, len(p))
			c.WriteMessage(op, p)
		}
	})
	c := dial(t, url, opts)
	var want bytes.Buffer
	for _, p := range [][]byte{[]byte("hello, "), nil, []byte("world"), payload(2500)} {
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write of %d: %d, %v", len(p), n, err)
		}
		want.Write(p)
	}
	if err := c.WriteMessage(codec.OpText, []byte("¡text too!")); err != nil {
		t.Fatal(err)
	}
	want.WriteString("¡text too!")
	back := make([]byte, want.Len())
	for off, step := 0, 1; off < len(back); step = step%13 + 1 {
		n, err := c.Read(back[off:min(off+step, len(back))])
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if !bytes.Equal(back, want.Bytes()) {
		t.Fatalf("read %q", back)
	}
	c.Close()
	if sizes := <-got; !equalInts(sizes, []int{7, 5, 1000, 1000, 500, len("¡text too!")}) {
		t.Errorf("messages of %v bytes", sizes)
	}
}

func equalInts(a, b []int) bool {
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

// TestByteStreamEOF: io.Copy from a Conn ends without error when the peer
// closes normally, with every byte delivered.
func TestByteStreamEOF(t *testing.T) {
	want := payload(300 << 10)
	url := serveHTTP(t, nil, func(c *stream.Conn) {
		for p := want; len(p) > 0; {
			k := min(len(p), 7000)
			c.Write(p[:k])
			p = p[k:]
		}
		c.Close()
	})
	c := dial(t, url, nil)
	var got bytes.Buffer
	if n, err := io.Copy(&got, c); err != nil || n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("io.Copy: %d bytes, %v", n, err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read after the end: %d, %v", n, err)
	}
}
