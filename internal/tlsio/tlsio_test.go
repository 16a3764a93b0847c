package tlsio_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/shoalws/shoal/internal/testca"
	"github.com/shoalws/shoal/internal/tlsio"
)

// These tests pin the behaviours of crypto/tls that a shard relies on to
// run a tls.Conn without a goroutine. Each runs on a real TCP connection
// on loopback: the client is an ordinary tls.Conn, the server a tls.Conn
// on a Transport that the test feeds the way a shard does, from raw reads
// of the socket.

var versions = []struct {
	name string
	v    uint16
}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

var ca = func() *testca.CA {
	ca, err := testca.New()
	if err != nil {
		panic(err)
	}
	return ca
}()

// fed is the server end of a connection, handshaken and then detached:
// raw is its socket, which the test reads and feeds.
type fed struct {
	t      *testing.T
	tc     *tls.Conn
	tr     *tlsio.Transport
	feed   tlsio.Feed
	raw    net.Conn
	client *tls.Conn
}

func newFed(t *testing.T, version uint16) *fed {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ccfg := ca.ClientConfig("127.0.0.1")
	ccfg.MaxVersion = version
	client := make(chan *tls.Conn, 1)
	go func() {
		nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			client <- nil
			return
		}
		tc := tls.Client(nc, ccfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if tc.Handshake() != nil {
			nc.Close()
			client <- nil
			return
		}
		client <- tc
	}()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f := &fed{t: t, tr: tlsio.NewTransport(nc)}
	scfg := ca.ServerConfig()
	scfg.MaxVersion = version
	f.tc = tls.Server(f.tr, scfg)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := f.tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	f.client = <-client
	if f.client == nil {
		t.Fatal("client handshake failed")
	}
	if got := f.tc.ConnectionState().Version; got != version {
		t.Fatalf("negotiated %x, want %x", got, version)
	}
	f.raw = f.tr.Detach()
	if f.raw != nil {
		f.raw.SetDeadline(time.Time{})
	}
	f.tr.SetFeed(&f.feed)
	t.Cleanup(func() {
		f.raw.Close()
		f.client.Close()
	})
	return f
}

// readRaw reads what the socket has, waiting up to a second for the first
// byte, at most max bytes.
func (f *fed) readRaw(max int) []byte {
	f.t.Helper()
	buf := make([]byte, max)
	f.raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := f.raw.Read(buf)
	if err != nil {
		f.t.Fatalf("raw read: %v", err)
	}
	return buf[:n]
}

// drain calls the server's Read until it reports ErrWouldBlock, as a
// shard does after each socket read, and returns the plaintext.
func (f *fed) drain(bufSize int) ([]byte, error) {
	var out []byte
	buf := make([]byte, bufSize)
	for {
		n, err := f.tc.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if errors.Is(err, tlsio.ErrWouldBlock) {
				if len(f.feed.In) != 0 {
					f.t.Fatalf("would block with %d bytes of input left", len(f.feed.In))
				}
				return out, nil
			}
			return out, err
		}
	}
}

// sendOut writes what crypto/tls sealed to the socket.
func (f *fed) sendOut() {
	f.t.Helper()
	if _, err := f.raw.Write(f.feed.Out); err != nil {
		f.t.Fatal(err)
	}
	f.feed.Out = f.feed.Out[:0]
}

func message(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// A record fed a few bytes at a time: every Read between pieces reports
// ErrWouldBlock, crypto/tls keeps the partial record, and the plaintext
// comes out whole and in order.
func TestFedReadSurvivesPartialRecords(t *testing.T) {
	for _, v := range versions {
		for _, chunk := range []int{1, 7, 300, 16 << 10} {
			t.Run(fmt.Sprintf("%s/chunk=%d", v.name, chunk), func(t *testing.T) {
				f := newFed(t, v.v)
				want := message(40 << 10) // several records
				go f.client.Write(want)
				var got []byte
				for len(got) < len(want) {
					raw := f.readRaw(chunk)
					for len(raw) > 0 {
						n := min(len(raw), chunk)
						f.feed.In = raw[:n]
						raw = raw[n:]
						out, err := f.drain(4096)
						if err != nil {
							t.Fatalf("read after %d bytes: %v", len(got), err)
						}
						got = append(got, out...)
					}
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("plaintext differs: got %d bytes, want %d", len(got), len(want))
				}
			})
		}
	}
}

// A plaintext record larger than the caller's buffer comes out over
// several Reads with no new input: the rest waits inside the tls.Conn.
func TestFedReadSmallBuffer(t *testing.T) {
	f := newFed(t, tls.VersionTLS13)
	want := message(10 << 10)
	go f.client.Write(want)
	var got []byte
	for len(got) < len(want) {
		f.feed.In = f.readRaw(64 << 10)
		out, err := f.drain(100)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("plaintext differs")
	}
}

// What the server writes after Detach lands in the Feed, sealed, for the
// shard to send; the client reads it.
func TestFedWriteCollectsRecords(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			f := newFed(t, v.v)
			want := message(50 << 10)
			if n, err := f.tc.Write(want); err != nil || n != len(want) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if len(f.feed.Out) <= len(want) {
				t.Fatalf("sealed %d bytes for %d of plaintext", len(f.feed.Out), len(want))
			}
			sent := make(chan error, 1)
			go func() {
				_, err := f.raw.Write(f.feed.Out)
				sent <- err
			}()
			got := make([]byte, len(want))
			f.client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(f.client, got); err != nil {
				t.Fatal(err)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("plaintext differs")
			}
		})
	}
}

// A handshake that meets "no input yet" fails for good: crypto/tls keeps
// handshake errors. This is why a handshake runs on a blocking socket
// (a goroutine) and only the established connection is fed.
func TestHandshakeErrorIsSticky(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer nc.Close()
		tc := tls.Client(nc, ca.ClientConfig("127.0.0.1"))
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		tc.Handshake() // fails when the server gives up
	}()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tr := tlsio.NewTransport(nc)
	tr.Detach()
	var feed tlsio.Feed
	tr.SetFeed(&feed)
	srv := tls.Server(tr, ca.ServerConfig())
	first := srv.Handshake()
	if !errors.Is(first, tlsio.ErrWouldBlock) {
		t.Fatalf("first handshake: %v, want ErrWouldBlock", first)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	hello := make([]byte, 4096)
	n, err := nc.Read(hello)
	if err != nil {
		t.Fatal(err)
	}
	feed.In = hello[:n]
	if again := srv.Handshake(); again != first {
		t.Fatalf("handshake with the ClientHello fed: %v, want the first error again", again)
	}
}

// A record that fails authentication ends the connection for good: Read
// returns a non-temporary error, again on every later call, and an alert
// is sealed for the peer.
func TestGarbageRecord(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			f := newFed(t, v.v)
			garbage := append([]byte{23, 3, 3, 0, 40}, message(40)...)
			f.feed.In = garbage
			_, err := f.drain(1024)
			if err == nil || errors.Is(err, tlsio.ErrWouldBlock) {
				t.Fatalf("garbage record: %v, want a fatal error", err)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("fatal error %v says timeout", err)
			}
			// An alert record; TLS 1.3 hides its type behind application data.
			if len(f.feed.Out) < 5 || (f.feed.Out[0] != 21 && f.feed.Out[0] != 23) {
				t.Fatalf("no alert record sealed: % x", f.feed.Out)
			}
			f.feed.In = nil
			if _, again := f.tc.Read(make([]byte, 10)); again == nil || errors.Is(again, tlsio.ErrWouldBlock) {
				t.Fatalf("read after the failure: %v, want the error again", again)
			}
		})
	}
}

// A peer's close_notify reads as io.EOF, after the data before it.
func TestCloseNotifyReadsEOF(t *testing.T) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			f := newFed(t, v.v)
			f.client.Write([]byte("last words"))
			f.client.Close()
			var got []byte
			var err error
			for err == nil {
				f.feed.In = f.readRaw(4096)
				var out []byte
				out, err = f.drain(4096)
				got = append(got, out...)
			}
			if err != io.EOF || string(got) != "last words" {
				t.Fatalf("read %q, %v; want %q, EOF", got, err, "last words")
			}
		})
	}
}

// CloseWrite seals a close_notify; the client reads EOF.
func TestCloseWriteSealsCloseNotify(t *testing.T) {
	f := newFed(t, tls.VersionTLS13)
	if err := f.tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if len(f.feed.Out) == 0 {
		t.Fatal("nothing sealed")
	}
	f.sendOut()
	f.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := f.client.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("client read %d, %v; want EOF", n, err)
	}
}

// ErrWouldBlock reads as a passed deadline to code that checks for one.
func TestErrWouldBlockIsATimeout(t *testing.T) {
	var ne net.Error
	if !errors.As(tlsio.ErrWouldBlock, &ne) || !ne.Timeout() {
		t.Fatal("not a net.Error timeout")
	}
	if !errors.Is(tlsio.ErrWouldBlock, os.ErrDeadlineExceeded) {
		t.Fatal("not os.ErrDeadlineExceeded")
	}
}

// Trim releases the read buffers of an idle connection, refuses while a
// record is half read, and the connection works on afterwards.
func TestTrim(t *testing.T) {
	if !tlsio.Trimmable() {
		t.Fatal("crypto/tls's read buffers are no longer where Trim looks: idle TLS connections keep them (see DESIGN.md, TLS)")
	}
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			f := newFed(t, v.v)
			want := message(16 << 10)
			for round := 0; round < 3; round++ {
				go f.client.Write(want)
				var got []byte
				half := true
				for len(got) < len(want) {
					raw := f.readRaw(64 << 10)
					if half && len(raw) > 10 {
						// Half a record in: nothing may be dropped.
						f.feed.In = raw[:10]
						if _, err := f.drain(64 << 10); err != nil {
							t.Fatal(err)
						}
						if tlsio.Trim(f.tc) {
							t.Fatal("Trim with a partial record buffered")
						}
						raw, half = raw[10:], false
					}
					f.feed.In = raw
					out, err := f.drain(64 << 10)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, out...)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("round %d: plaintext differs", round)
				}
				if !tlsio.Trim(f.tc) {
					t.Fatalf("round %d: Trim refused an idle connection", round)
				}
			}
		})
	}
}

// Transport passes everything to its Go connection until Detach.
func TestTransportBeforeDetach(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	tr := tlsio.NewTransport(a)
	go b.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(tr, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if tr.Detached() {
		t.Fatal("detached before Detach")
	}
	if got := tr.Detach(); got != a {
		t.Fatal("Detach did not return the connection")
	}
	if _, err := tr.Read(buf); !errors.Is(err, tlsio.ErrDetached) {
		t.Fatalf("read detached without a feed: %v", err)
	}
	if tr.Detach() != nil {
		t.Fatal("second Detach returned a connection")
	}
}
