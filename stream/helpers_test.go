package stream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// serveHTTP serves Accept with opts on a loopback port for the duration
// of the test; handle runs on each connection and the test waits for
// every handle to return before it ends. It returns the ws:// URL.
func serveHTTP(t testing.TB, opts *stream.Options, handle func(*stream.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := stream.Accept(w, r, opts)
			if err != nil {
				return
			}
			wg.Add(1)
			defer wg.Done()
			defer c.Close()
			handle(c)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return "ws://" + ln.Addr().String() + "/"
}

// serveConn accepts TCP connections on a loopback port and runs Server
// with opts on each, then handle; like serveHTTP it waits for them all.
// It returns the listener's address.
func serveConn(t testing.TB, opts *stream.Options, handle func(*stream.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				c, err := stream.Server(context.Background(), nc, opts)
				if err != nil {
					return
				}
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dial(t testing.TB, url string, opts *stream.Options) *stream.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := stream.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return c
}

// echo sends every message back as it came, until reading fails.
func echo(c *stream.Conn) {
	for {
		op, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(op, p); err != nil {
			return
		}
	}
}

// streamEcho echoes every message through NextReader and NextWriter,
// never holding a whole one.
func streamEcho(c *stream.Conn) {
	buf := make([]byte, 32<<10)
	for {
		op, r, err := c.NextReader()
		if err != nil {
			return
		}
		w, err := c.NextWriter(op)
		if err != nil {
			return
		}
		_, err = io.CopyBuffer(w, r, buf)
		if cerr := w.Close(); err != nil || cerr != nil {
			return
		}
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// rawServer accepts one TCP connection, answers its handshake, and hands
// the connection to the test, which plays a server frame by frame. It
// returns the ws:// URL and a channel that yields the connection.
func rawServer(t testing.TB) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 1)
	go func() {
		defer ln.Close()
		nc, err := ln.Accept()
		if err != nil {
			close(conns)
			return
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 0, 4096)
		var req codec.Request
		for {
			n, err := nc.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if _, perr := codec.ParseRequest(buf, 0, &req); perr == nil {
				break
			} else if !errors.Is(perr, codec.ErrNeedMore) || err != nil {
				nc.Close()
				close(conns)
				return
			}
		}
		nc.Write(codec.AppendAccept(nil, &req, ""))
		conns <- nc
	}()
	t.Cleanup(func() { ln.Close() })
	return "ws://" + ln.Addr().String() + "/", conns
}

// accepted waits for rawServer's connection and closes it when the test
// ends.
func accepted(t testing.TB, conns <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case nc, ok := <-conns:
		if !ok {
			t.Fatal("raw server: handshake failed")
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	case <-time.After(10 * time.Second):
		t.Fatal("raw server: no connection")
	}
	return nil
}

// serverFrame encodes an unmasked frame, as a server sends it.
func serverFrame(op codec.Opcode, fin bool, p []byte) []byte {
	return codec.AppendFrame(nil, codec.Header{Fin: fin, Op: op}, p)
}

// readFrame reads one frame from nc and unmasks it.
func readFrame(t testing.TB, r io.Reader) (codec.Header, []byte) {
	t.Helper()
	var hdr [codec.MaxHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	_, need, _ := codec.DecodeHeader(hdr[:2])
	if _, err := io.ReadFull(r, hdr[2:need]); err != nil {
		t.Fatal(err)
	}
	h, _, err := codec.DecodeHeader(hdr[:need])
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	if h.Masked {
		codec.Mask(h.Mask, 0, p)
	}
	return h, p
}

func closeCode(err error) codec.StatusCode {
	code, _ := codec.CloseCodeOf(err)
	return code
}

func equal(a, b []byte) bool { return bytes.Equal(a, b) }
