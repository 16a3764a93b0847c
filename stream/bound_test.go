package stream

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
)

// TestReadMessageMemory holds ReadMessage to its bound against a peer
// that announces a large message and sends it slowly: the buffer grows
// with the bytes that arrived, never with the length announced, and a
// whole message at the limit sits in at most twice the limit (buffers
// come in power-of-two classes).
func TestReadMessageMemory(t *testing.T) {
	const limit = 3 << 20
	peer, mine := net.Pipe()
	defer peer.Close()
	c := newConn(mine, codec.RoleServer, &Options{MaxMessageSize: limit})
	defer mine.Close()

	key := [4]byte{1, 2, 3, 4}
	payload := make([]byte, limit)
	frame := codec.AppendFrame(nil, codec.Header{Fin: true, Op: codec.OpBinary, Masked: true, Mask: key}, payload)
	sent := make(chan error, 1)
	write := func(b []byte) {
		go func() {
			_, err := peer.Write(b)
			sent <- err
		}()
	}

	// The header and 10 bytes of a 3 MiB message.
	hdr := codec.Header{Masked: true, Length: limit}.Size()
	write(frame[:hdr+10])
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := c.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of an unfinished message: %v", err)
	}
	<-sent
	if c.partial == nil || len(c.partial.B) != 10 || cap(c.partial.B) > DefaultBufferSize {
		t.Fatalf("10 bytes of a 3 MiB message held in %d bytes", cap(c.partial.B))
	}

	// One more MiB: the buffer follows what came.
	write(frame[hdr+10 : hdr+(1<<20)])
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := c.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of an unfinished message: %v", err)
	}
	<-sent
	if n := cap(c.partial.B); n > 2<<20 {
		t.Fatalf("1 MiB of a 3 MiB message held in %d bytes", n)
	}

	// The rest: the whole message, in at most twice the limit.
	write(frame[hdr+(1<<20):])
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, p, err := c.ReadMessage()
	if err != nil || len(p) != limit {
		t.Fatalf("%d bytes, %v", len(p), err)
	}
	<-sent
	if n := cap(c.msg.B); n > 2*limit {
		t.Fatalf("a %d-byte message held in %d bytes", limit, n)
	}
}
