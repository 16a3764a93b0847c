package rawws

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// streamConn is a net.Conn whose reads come from a byte stream, at most
// chunk bytes at a time, and whose writes vanish: the frame layer under
// test without a socket, for fuzzing and allocation counts.
type streamConn struct {
	r     *bytes.Reader
	chunk int
}

func (s *streamConn) Read(p []byte) (int, error) {
	if s.chunk > 0 && len(p) > s.chunk {
		p = p[:s.chunk]
	}
	return s.r.Read(p)
}
func (*streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (*streamConn) Close() error                     { return nil }
func (*streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (*streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (*streamConn) SetDeadline(time.Time) error      { return nil }
func (*streamConn) SetReadDeadline(time.Time) error  { return nil }
func (*streamConn) SetWriteDeadline(time.Time) error { return nil }

func connOver(stream []byte, chunk int) *Conn {
	return &Conn{nc: &streamConn{r: bytes.NewReader(stream), chunk: chunk}, buf: make([]byte, 64)}
}

// serverFrame is a frame as a server sends it: unmasked.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b := appendFrame(nil, op, payload, 0)
	if !fin {
		b[0] &^= 0x80
	}
	// Drop the mask bit and the (zero) key appendFrame wrote.
	b[1] &^= 0x80
	hdr := 2
	switch b[1] {
	case 126:
		hdr = 4
	case 127:
		hdr = 10
	}
	return append(b[:hdr], b[hdr+4:]...)
}

// Whatever the chunking of the stream, the messages come out whole and
// in order, with the buffer grown only for frames larger than it.
func TestNextAcrossReads(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i, n := range []int{0, 10, 200, 70000, 3, 64} {
		p := bytes.Repeat([]byte{byte(i + 1)}, n)
		want = append(want, p)
		if n == 200 { // as three fragments with a ping between
			stream = append(stream, serverFrame(false, OpBinary, p[:50])...)
			stream = append(stream, serverFrame(true, OpPing, []byte("p"))...)
			stream = append(stream, serverFrame(false, OpContinuation, p[50:120])...)
			stream = append(stream, serverFrame(true, OpContinuation, p[120:])...)
			continue
		}
		stream = append(stream, serverFrame(true, OpBinary, p)...)
	}
	for _, chunk := range []int{1, 3, 64, 1000, 0} {
		c := connOver(stream, chunk)
		for i, w := range want {
			m, err := c.Next()
			if err != nil || !bytes.Equal(m.Payload, w) {
				t.Fatalf("chunk %d, message %d: %v, %d bytes, want %d", chunk, i, err, len(m.Payload), len(w))
			}
		}
		if _, err := c.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("chunk %d: after the last, %v", chunk, err)
		}
	}
}

// Ready says whether Next can return without reading.
func TestReady(t *testing.T) {
	msg := serverFrame(true, OpBinary, []byte("hello"))
	frag := serverFrame(false, OpBinary, []byte("he"))
	ping := serverFrame(true, OpPing, nil)
	for _, c := range []struct {
		name   string
		stream []byte
		want   bool
	}{
		{"nothing", nil, false},
		{"a message", msg, true},
		{"half a message", msg[:4], false},
		{"a ping, then a message", append(bytes.Clone(ping), msg...), true},
		{"a ping alone", ping, false},
		{"a fragment alone", frag, false},
		{"a fragment and the rest", append(bytes.Clone(frag), serverFrame(true, OpContinuation, []byte("llo"))...), true},
		{"a close", serverFrame(true, OpClose, nil), true},
		{"a bad frame", []byte{0x83, 0x00}, true},
	} {
		conn := connOver(nil, 0)
		conn.buf = append(bytes.Clone(c.stream), make([]byte, 64)...)
		conn.w = len(c.stream)
		if got := conn.Ready(); got != c.want {
			t.Errorf("%s: Ready %v, want %v", c.name, got, c.want)
		}
	}
}

// Reading a message allocates nothing: at millions of deliveries a
// second the load process's GC would show in the figures.
func TestNextNoAlloc(t *testing.T) {
	frame := serverFrame(true, OpBinary, make([]byte, 64))
	c := connOver(bytes.Repeat(frame, 3000), 0)
	c.buf = make([]byte, ReadBufferSize)
	allocs := testing.AllocsPerRun(2000, func() {
		if m, err := c.Next(); err != nil || len(m.Payload) != 64 {
			t.Fatal(err)
		}
		c.Ready()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message", allocs)
	}
}

// Any stream from a server: no panic, and every message returned is a
// data message within the bound.
func FuzzNext(f *testing.F) {
	f.Add(serverFrame(true, OpBinary, []byte("hello")), 0)
	f.Add(append(serverFrame(false, OpText, []byte("a")), serverFrame(true, OpContinuation, []byte("b"))...), 1)
	f.Add(serverFrame(true, OpPing, []byte("p")), 3)
	f.Add(serverFrame(true, OpClose, []byte{0x03, 0xE8, 'x'}), 2)
	f.Add([]byte{0x82, 0x7E, 0x01, 0x00}, 0)
	f.Add([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 1, 0}, 5)
	f.Fuzz(func(t *testing.T, stream []byte, chunk int) {
		c := connOver(stream, chunk%100)
		for range 1000 {
			m, err := c.Next()
			if err != nil {
				return
			}
			if (m.Op != OpText && m.Op != OpBinary) || len(m.Payload) > MaxMessage {
				t.Fatalf("message op %d, %d bytes", m.Op, len(m.Payload))
			}
		}
	})
}
