package shoal_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// Abusive TLS clients: broken records, handshakes that never finish,
// peers that do not read. Each harms only itself.

// tap is a client's socket under its tls.Conn: the test can write raw
// bytes past crypto/tls, or hold back what crypto/tls writes.
type tap struct {
	net.Conn
	mu   sync.Mutex
	hold bool
	held []byte
}

func (t *tap) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hold {
		t.held = append(t.held, p...)
		return len(p), nil
	}
	return t.Conn.Write(p)
}

// holdRecords returns what crypto/tls writes while f runs, unsent.
func (t *tap) holdRecords(f func()) []byte {
	t.mu.Lock()
	t.hold, t.held = true, nil
	t.mu.Unlock()
	f()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hold = false
	return t.held
}

// dialTap opens a wss:// connection whose socket the test can tamper with.
func dialTap(t *testing.T, addr string) (*wstest.Client, *tap) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{Conn: raw}
	c, err := wstest.Handshake(tls.Client(tp, clientTLS()), addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, tp
}

// TestTLSBrokenRecords: a record that fails authentication, a record cut
// short, a hang-up without close_notify and a close_notify alone each end
// their connection only, with code 1006, and deliver nothing partial.
func TestTLSBrokenRecords(t *testing.T) {
	closed := make(chan error, 10)
	var messages atomic.Int64
	srv, addr := startTLS(t, shoal.Config{Handler: shoal.HandlerFuncs{
		Message: func(c *shoal.Conn, m shoal.Message) {
			messages.Add(1)
			c.Send(m.Type, m.Data)
		},
		Close: func(c *shoal.Conn, err error) { closed <- err },
	}})
	bystander := dialTLS(t, addr, nil)
	tests := []struct {
		name   string
		reason string // of the 1006 OnClose sees
		abuse  func(c *wstest.Client, tp *tap)
	}{
		{"garbage record", "tls: ", func(c *wstest.Client, tp *tap) {
			tp.Conn.Write(append([]byte{23, 3, 3, 0, 64}, bytes.Repeat([]byte{0xA5}, 64)...))
		}},
		{"truncated record", "connection lost", func(c *wstest.Client, tp *tap) {
			rec := tp.holdRecords(func() { c.WriteFrame(codec.OpText, true, []byte("never whole")) })
			tp.Conn.Write(rec[:len(rec)/2])
			tp.Conn.(*net.TCPConn).CloseWrite()
		}},
		{"no close_notify", "connection lost", func(c *wstest.Client, tp *tap) {
			tp.Conn.(*net.TCPConn).CloseWrite()
		}},
		{"close_notify alone", "connection lost", func(c *wstest.Client, tp *tap) {
			c.Conn.(*tls.Conn).CloseWrite()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, tp := dialTap(t, addr)
			roundTrip(t, c, codec.OpText, []byte("fine so far"))
			before := messages.Load()
			tt.abuse(c, tp)
			err := <-closed
			var ce *codec.CloseError
			if !errors.As(err, &ce) || ce.Code != codec.StatusAbnormal || !strings.HasPrefix(ce.Reason, tt.reason) {
				t.Fatalf("OnClose %v, want 1006 %q...", err, tt.reason)
			}
			if messages.Load() != before {
				t.Fatal("a message was delivered from broken records")
			}
			// The server hung up: the client reads the end (or the alert).
			c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c.Conn); err != nil && isTimeout(err) {
				t.Fatal("server kept the connection open")
			}
			roundTrip(t, bystander, codec.OpText, []byte("unaffected"))
		})
	}
	if st := srv.Stats(); st.Conns != 1 {
		t.Fatalf("%d conns open, want the bystander", st.Conns)
	}
}

// TestTLSHandshakeFloodAndSlowloris: with every handshake slot held by
// clients that send nothing or trickle a ClientHello, the server runs at
// most MaxTLSHandshakes handshake goroutines, cuts each at
// HandshakeTimeout, keeps serving established connections, and the
// clients queued behind get their turn; a burst of real handshakes all
// succeed through the same few slots.
func TestTLSHandshakeFloodAndSlowloris(t *testing.T) {
	const slots, lorises = 4, 12
	const deadline = 500 * time.Millisecond
	srv, addr := startTLS(t, shoal.Config{Shards: 2, Workers: 4, MaxTLSHandshakes: slots, HandshakeTimeout: deadline})
	bystander := dialTLS(t, addr, nil)
	roundTrip(t, bystander, codec.OpText, []byte("before"))
	base := runtime.NumGoroutine()

	var peak atomic.Int64
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			peak.Store(max(peak.Load(), int64(runtime.NumGoroutine())))
			select {
			case <-stopWatch:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	type loris struct {
		began time.Time
		ended chan time.Time
	}
	var all []loris
	for i := range lorises {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		l := loris{began: time.Now(), ended: make(chan time.Time, 1)}
		all = append(all, l)
		go func() {
			defer func() { l.ended <- time.Now() }()
			if i%2 == 1 {
				// A handshake record of 512 bytes, one byte at a time.
				if _, err := nc.Write([]byte{22, 3, 1, 2, 0}); err != nil {
					return
				}
				for {
					time.Sleep(20 * time.Millisecond)
					if _, err := nc.Write([]byte{0}); err != nil {
						return
					}
				}
			}
			nc.SetReadDeadline(time.Now().Add(20 * time.Second))
			io.Copy(io.Discard, nc)
		}()
	}

	// Established connections are served meanwhile.
	for i := range 5 {
		roundTrip(t, bystander, codec.OpText, []byte(fmt.Sprint("during ", i)))
	}
	// Real clients queue behind the lorises, then all get through.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			cfg := clientTLS()
			d := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 20 * time.Second}}
			nc, err := d.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			c, err := wstest.Handshake(nc, addr, "/")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.Timeout = 20 * time.Second
			if err := c.WriteFrame(codec.OpText, true, []byte("queued")); err != nil {
				errs <- err
				return
			}
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "queued" {
				errs <- fmt.Errorf("echo %q %v", msg, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("real client: %v", err)
	}
	for i, l := range all {
		select {
		case end := <-l.ended:
			if held := end.Sub(l.began); held < deadline*9/10 {
				t.Errorf("loris %d cut after %v, before its deadline", i, held)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("loris %d still connected", i)
		}
	}
	close(stopWatch)
	<-watched
	// Slots, plus the test's own goroutines: the watcher, the lorises'
	// and the real clients' (those are in this process too).
	if extra := peak.Load() - int64(base); extra > slots+lorises+40+2 {
		t.Fatalf("%d goroutines over the %d before the flood", extra, base)
	}
	st := srv.Stats()
	if st.HandshakeErrors < lorises {
		t.Fatalf("%d handshake errors counted, want at least %d", st.HandshakeErrors, lorises)
	}
	roundTrip(t, bystander, codec.OpText, []byte("after"))
}

// TestTLSSlowReaderHitsOutboundLimit: a TLS client that never reads fills
// its queue to the limit, sealed records the kernel refused included;
// Send then fails for it alone.
func TestTLSSlowReaderHitsOutboundLimit(t *testing.T) {
	const limit = 256 << 10
	opened := make(chan *shoal.Conn, 2)
	srv, addr := startTLS(t, shoal.Config{MaxOutbound: limit, Handler: shoal.HandlerFuncs{
		Open:    func(c *shoal.Conn) { opened <- c },
		Message: func(c *shoal.Conn, m shoal.Message) { c.Send(m.Type, m.Data) },
	}})
	_ = dialTLS(t, addr, nil)
	slow := <-opened
	fast := dialTLS(t, addr, nil)
	<-opened
	payload := make([]byte, 16<<10)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if err = slow.Send(shoal.Binary, payload); err != nil {
			break
		}
	}
	if !errors.Is(err, shoal.ErrOutboundFull) {
		t.Fatalf("%v, want ErrOutboundFull", err)
	}
	// The limit, one message past it, and the sealed bytes the kernel
	// refused: at most one 64 KiB buffer.
	if q := srv.Stats().QueuedBytes; q > limit+int64(len(payload))+codec.MaxHeaderSize+64<<10 {
		t.Fatalf("%d bytes queued, limit %d", q, limit)
	}
	roundTrip(t, fast, codec.OpBinary, []byte("the fast one is unaffected"))
}

// TestTLSSlowSubscriberEvicted: a TLS subscriber that never reads is
// closed with 1008 by the slow-consumer policy; one that reads gets every
// message.
func TestTLSSlowSubscriberEvicted(t *testing.T) {
	var srv *shoal.Server
	evicted := make(chan struct{}, 1)
	opened := make(chan struct{}, 2)
	addr := startRef(t, &srv, shoal.Config{TLS: testCA.ServerConfig(), MaxOutbound: 512 << 10, CloseTimeout: 300 * time.Millisecond,
		Handler: shoal.HandlerFuncs{Open: func(c *shoal.Conn) {
			srv.Subscribe(c, "feed")
			opened <- struct{}{}
		}},
		OnSlowConsumer: func(c *shoal.Conn, ev bool) {
			select {
			case evicted <- struct{}{}:
			default:
			}
		},
	})
	_ = dialTLS(t, addr, nil)
	<-opened
	reader := dialTLS(t, addr, nil)
	<-opened
	var got atomic.Int64
	done := make(chan error, 1)
	go func() {
		reader.Timeout = 20 * time.Second
		for i := 0; ; i++ {
			_, msg, err := reader.ReadMessage()
			if err != nil {
				done <- err
				return
			}
			if num, _, _ := strings.Cut(string(msg), " "); num != fmt.Sprint(i) {
				done <- fmt.Errorf("got %.20q, want message %d", msg, i)
				return
			}
			got.Add(1)
		}
	}()
	pad := strings.Repeat("x", 8<<10)
	sent := 0
	deadline := time.Now().Add(20 * time.Second)
	for ; ; sent++ {
		select {
		case <-evicted:
		case err := <-done:
			t.Fatal(err)
		default:
			// Pace on the reader (a few 16 KiB buffers ahead, well under
			// its limit), so only the silent one falls behind.
			for int64(sent)-got.Load() > 8 {
				if time.Now().After(deadline) {
					t.Fatalf("the reader is stuck: %+v", srv.Stats())
				}
				time.Sleep(100 * time.Microsecond)
			}
			srv.Publish("feed", shoal.Text, []byte(fmt.Sprint(sent, " ", pad)))
			continue
		}
		break
	}
	waitFor(t, func() bool { return got.Load() == int64(sent) })
	// The silent one never answers the close: it is dropped at the close
	// deadline, counted under 1008.
	waitFor(t, func() bool { return srv.Stats().Closes[shoal.StatusPolicyViolation] == 1 })
	if st := srv.Stats(); st.SlowEvictions != 1 || st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTLSGoroutinesAndMemory holds 1,000 wss:// connections from a
// separate client process: the server's goroutines do not grow with them,
// and once they have idled for a second each costs the server at most
// 10 KiB of heap, crypto/tls's state included.
func TestTLSGoroutinesAndMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 TLS connections")
	}
	const shards, workers, conns = 2, 8, 1000
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, testCA.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(clientTLSEnv, caFile)
	srv, addr := startTLS(t, shoal.Config{Shards: shards, Workers: workers})
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before, beforeHeap := runtime.NumGoroutine(), heap()
	clients := spawnClients(t, addr, conns)
	waitFor(t, func() bool { return srv.Stats().Conns == conns })
	during := runtime.NumGoroutine()
	perConn := func() float64 { return float64(int64(heap())-int64(beforeHeap)) / conns }
	t.Logf("heap per idle TLS conn: %.0f B just opened", perConn())
	deadline := time.Now().Add(10 * time.Second)
	var per float64
	for per = perConn(); per > 10<<10 && time.Now().Before(deadline); per = perConn() {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("heap per idle TLS conn: %.0f B after idling", per)
	t.Logf("goroutines: %d before, %d with %d TLS conns", before, during, conns)
	if per > 10<<10 {
		t.Errorf("%.0f B of heap per idle TLS connection, over 10 KiB", per)
	}
	clients.Stop()
	if during > before+workers+4 {
		t.Fatalf("%d goroutines with %d conns, %d before", during, conns, before)
	}
}

// TestTLSSlowlorisAfterHandshake: a client that completes the TLS
// handshake and then trickles its WebSocket handshake is cut off within
// one HandshakeTimeout of connecting, both handshakes together.
func TestTLSSlowlorisAfterHandshake(t *testing.T) {
	const deadline = 600 * time.Millisecond
	srv, addr := startTLS(t, shoal.Config{HandshakeTimeout: deadline})
	bystander := dialTLS(t, addr, nil)
	began := time.Now()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// The TLS handshake takes half the budget: its ClientHello is late.
	nc := tls.Client(&lateStart{Conn: raw, delay: deadline / 2}, clientTLS())
	defer nc.Close()
	if err := nc.Handshake(); err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	for {
		nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := nc.Read(make([]byte, 64)); err != nil && !isTimeout(err) {
			break
		}
		if _, err := nc.Write([]byte("X")); err != nil {
			break
		}
		if time.Since(began) > 5*time.Second {
			t.Fatal("slow handshake never closed")
		}
	}
	if d := time.Since(began); d < deadline*9/10 || d > deadline*3/2 {
		t.Fatalf("closed %v after connecting, deadline %v", d, deadline)
	}
	roundTrip(t, bystander, codec.OpText, []byte("unaffected"))
	if srv.Stats().HandshakeErrors == 0 {
		t.Fatal("handshake timeout not counted")
	}
}

// lateStart delays its first write.
type lateStart struct {
	net.Conn
	delay time.Duration
	once  sync.Once
}

func (l *lateStart) Write(p []byte) (int, error) {
	l.once.Do(func() { time.Sleep(l.delay) })
	return l.Conn.Write(p)
}

// TestTLSShutdown: Shutdown sends close 1001 over TLS to open
// connections, cuts handshakes in progress, and returns.
func TestTLSShutdown(t *testing.T) {
	srv, err := shoal.New(shoal.Config{Addr: "127.0.0.1:0", TLS: testCA.ServerConfig(), Handler: echo()})
	if err != nil {
		t.Fatal(err)
	}
	bound, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	addr := bound.String()
	c := dialTLS(t, addr, nil)
	roundTrip(t, c, codec.OpText, []byte("hello"))
	loris, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer loris.Close()
	loris.Write([]byte{22, 3, 1, 2, 0}) // half a ClientHello, then nothing
	closed := make(chan codec.StatusCode, 1)
	go func() {
		f, err := c.ReadFrame()
		if err == nil && f.Op == codec.OpClose {
			code, _, _ := codec.ParseClose(f.Payload)
			c.WriteFrame(codec.OpClose, true, f.Payload)
			closed <- code
		}
		close(closed)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if code := <-closed; code != shoal.StatusGoingAway {
		t.Fatalf("close %v, want 1001", code)
	}
	loris.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, loris); err != nil && isTimeout(err) {
		t.Fatal("handshake in progress not cut by Shutdown")
	}
}
