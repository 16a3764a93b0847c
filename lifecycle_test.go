package shoal_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestShutdown: every client gets close 1001, every OnClose runs, and the
// server releases every file descriptor it had.
func TestShutdown(t *testing.T) {
	baseline := openFDs(t)
	var closes atomic.Int64
	srv, err := shoal.New(shoal.Config{Addr: "127.0.0.1:0", Shards: 2, Handler: shoal.HandlerFuncs{
		Close: func(c *shoal.Conn, err error) { closes.Add(1) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	clients := make([]*wstest.Client, n)
	for i := range clients {
		if clients[i], err = wstest.Dial(addr.String(), "/"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return srv.Stats().Conns == n })
	// Clients answer the close as a browser does, concurrently with
	// Shutdown waiting for them.
	answered := make(chan error, n)
	for _, c := range clients {
		go func() {
			f, err := c.ReadFrame()
			if err == nil && f.Op != codec.OpClose {
				err = fmt.Errorf("got %v, want close", f.Op)
			}
			if err == nil {
				if code, _, _ := codec.ParseClose(f.Payload); code != 1001 {
					err = fmt.Errorf("close code %v, want 1001", code)
				}
			}
			c.WriteFrame(codec.OpClose, true, f.Payload)
			if err == nil {
				err = c.ExpectEOF()
			}
			c.Close()
			answered <- err
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range clients {
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
	}
	if closes.Load() != n {
		t.Fatalf("OnClose ran %d times, want %d", closes.Load(), n)
	}
	if fds := openFDs(t); fds > baseline {
		t.Fatalf("%d fds open after Shutdown, %d before New", fds, baseline)
	}
	if _, err := srv.Listen(); !errors.Is(err, shoal.ErrServerClosed) {
		t.Fatalf("Listen after Shutdown = %v", err)
	}
}

// TestShutdownForcedByContext: clients that never answer the close are
// dropped when the context ends.
func TestShutdownForcedByContext(t *testing.T) {
	var closes atomic.Int64
	srv, err := shoal.New(shoal.Config{Addr: "127.0.0.1:0", CloseTimeout: time.Minute, Handler: shoal.HandlerFuncs{
		Close: func(c *shoal.Conn, err error) { closes.Add(1) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := srv.Listen()
	c := dial(t, addr.String())
	waitFor(t, func() bool { return srv.Stats().Conns == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if err := c.ExpectEOF(); err != nil && !strings.Contains(err.Error(), "bytes after") {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return closes.Load() == 1 })
}

func TestHandlerPanicClosesWith1011(t *testing.T) {
	srv, addr := start(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) {
			if string(m.Data) == "boom" {
				panic("handler bug")
			}
			c.Send(m.Type, m.Data)
		},
	}})
	other := dial(t, addr)
	c := dial(t, addr)
	c.WriteFrame(codec.OpText, true, []byte("boom"))
	if code, err := c.ExpectClose(); err != nil || code != 1011 {
		t.Fatalf("close %v %v, want 1011", code, err)
	}
	roundTrip(t, other, codec.OpText, []byte("server still serving"))
	if srv.Stats().HandlerPanics != 1 {
		t.Fatalf("panics counted: %d", srv.Stats().HandlerPanics)
	}
}

func TestIdleTimeout(t *testing.T) {
	_, addr := start(t, shoal.Config{IdleTimeout: 300 * time.Millisecond})
	c := dial(t, addr)
	began := time.Now()
	f, err := c.ReadFrame()
	if err != nil || f.Op != codec.OpClose {
		t.Fatalf("got %+v %v, want a close frame", f.Header, err)
	}
	if d := time.Since(began); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("closed after %v for a 300ms idle timeout", d)
	}
	if code, _, _ := codec.ParseClose(f.Payload); code != 1001 {
		t.Fatalf("close code %v, want 1001", code)
	}
	// Answered as a client does, the server ends the TCP connection.
	c.WriteFrame(codec.OpClose, true, f.Payload)
	if err := c.ExpectEOF(); err != nil {
		t.Fatal(err)
	}
}

// TestPingKeepsAnsweringPeerAlive: the server pings idle peers; one that
// answers stays, one that stays silent is dropped after the pong timeout.
func TestPingKeepsAnsweringPeerAlive(t *testing.T) {
	srv, addr := start(t, shoal.Config{PingInterval: 150 * time.Millisecond, PongTimeout: 300 * time.Millisecond})
	alive := dial(t, addr)
	silent := dial(t, addr)
	var answered atomic.Int64
	go func() {
		for {
			f, err := alive.ReadFrame()
			if err != nil {
				return
			}
			if f.Op == codec.OpPing {
				alive.WriteFrame(codec.OpPong, true, f.Payload)
				answered.Add(1)
			}
		}
	}()
	silent.Timeout = 3 * time.Second
	f, err := silent.ReadFrame()
	if err != nil || f.Op != codec.OpPing {
		t.Fatalf("want a ping, got %+v %v", f.Header, err)
	}
	if err := silent.ExpectEOF(); err != nil {
		t.Fatalf("silent peer not dropped: %v", err)
	}
	// The live one outlasts several ping rounds, each longer than the
	// pong timeout would allow a silent peer.
	n := answered.Load()
	waitFor(t, func() bool { return answered.Load() >= n+3 })
	if st := srv.Stats(); st.Conns != 1 {
		t.Fatalf("%d conns open, want the answering one", st.Conns)
	}
}

// TestServeFromListener: connections accepted by a net.Listener are
// handed to the shards, which run the handshake.
func TestServeFromListener(t *testing.T) {
	srv, err := shoal.New(shoal.Config{Shards: 2, Handler: echo()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	for i := 0; i < 4; i++ {
		c := dial(t, ln.Addr().String())
		roundTrip(t, c, codec.OpText, []byte(fmt.Sprint("via Serve ", i)))
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	if err := <-served; !errors.Is(err, shoal.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// TestGoroutinesIndependentOfConns holds 2,000 connections from a
// separate client process and counts the server's goroutines.
func TestGoroutinesIndependentOfConns(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	const shards, workers, conns = 2, 8, 2000
	srv, addr := start(t, shoal.Config{Shards: shards, Workers: workers})
	before := runtime.NumGoroutine()
	clients := spawnClients(t, addr, conns)
	waitFor(t, func() bool { return srv.Stats().Conns == conns })
	during := runtime.NumGoroutine()
	clients.Stop()
	t.Logf("goroutines: %d before, %d with %d conns (shards %d, workers %d)", before, during, conns, shards, workers)
	// The test binary's own goroutines are in "before"; the pool may have
	// started up to its size since.
	if during > before+workers+4 {
		t.Fatalf("%d goroutines with %d conns, %d before: more than the pool can explain", during, conns, before)
	}
}
