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
	peer, mine := tcpPair(t)
	c := newConn(mine, codec.RoleServer, &Options{MaxMessageSize: limit})

	key := [4]byte{1, 2, 3, 4}
	frame := codec.AppendFrame(nil, codec.Header{Fin: true, Op: codec.OpBinary, Masked: true, Mask: key}, make([]byte, limit))
	hdr := codec.Header{Masked: true, Length: limit}.Size()

	// The header and 10 bytes of a 3 MiB message.
	send(t, c, peer, frame[:hdr+10], 10)
	if c.partial == nil || len(c.partial.B) != 10 || cap(c.partial.B) > DefaultBufferSize {
		t.Fatalf("10 bytes of a 3 MiB message held in %d bytes", cap(c.partial.B))
	}
	// One more MiB: the buffer follows what came.
	send(t, c, peer, frame[hdr+10:hdr+(1<<20)], 1<<20)
	if n := len(c.partial.B); n != 1<<20 {
		t.Fatalf("read %d bytes of the message, sent %d", n, 1<<20)
	}
	if n := cap(c.partial.B); n > 2<<20 {
		t.Fatalf("1 MiB of a 3 MiB message held in %d bytes", n)
	}
	// The rest: the whole message, in at most twice the limit.
	go peer.Write(frame[hdr+(1<<20):])
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, p, err := c.ReadMessage()
	if err != nil || len(p) != limit {
		t.Fatalf("%d bytes, %v", len(p), err)
	}
	if n := cap(c.msg.B); n > 2*limit {
		t.Fatalf("a %d-byte message held in %d bytes", limit, n)
	}
}

// send writes b from peer and has c read it with ReadMessage, which must
// time out with the message unfinished: short read deadlines, again until
// c holds held bytes of the message. (Waiting for the write to return and
// then for one more read was not enough on a loaded machine: a 20 ms read
// could end before the socket was empty.)
func send(t *testing.T, c *Conn, peer net.Conn, b []byte, held int) {
	t.Helper()
	sent := make(chan error, 1)
	go func() {
		_, err := peer.Write(b)
		sent <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	holding := func() int {
		if c.partial == nil {
			return 0
		}
		return len(c.partial.B)
	}
	for holding() < held {
		if time.Now().After(deadline) {
			t.Fatalf("c holds %d bytes of the message after 10 s, want %d", holding(), held)
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, _, err := c.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read of an unfinished message: %v", err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// tcpPair is a loopback TCP connection's two ends.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
