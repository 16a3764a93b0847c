package shoal_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// benchServer runs an echo server for a benchmark.
func benchServer(b *testing.B, cfg shoal.Config) (*shoal.Server, string) {
	cfg.Addr = "127.0.0.1:0"
	cfg.Handler = echo()
	srv, err := shoal.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, addr.String()
}

// BenchmarkEchoRoundTrip measures one message echoed over loopback, one
// in flight, in both dispatch modes. The client writes a prebuilt frame
// and reads into a fixed buffer, so the allocations reported are the
// server's (the client runs in the same process).
func BenchmarkEchoRoundTrip(b *testing.B) {
	for _, mode := range []struct {
		name   string
		inline bool
	}{{"inline", true}, {"pool", false}} {
		for _, size := range []int{64, 1024, 16 << 10} {
			b.Run(mode.name+"/"+sizeName(size), func(b *testing.B) {
				_, addr := benchServer(b, shoal.Config{Shards: 1, Inline: mode.inline})
				c, err := wstest.Dial(addr, "/")
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				payload := bytes.Repeat([]byte("x"), size)
				frame := wstest.Build(codec.OpBinary, true, payload)
				want := codec.AppendFrame(nil, codec.Header{Fin: true, Op: codec.OpBinary}, payload)
				got := make([]byte, len(want))
				nc := c.Conn
				nc.SetDeadline(time.Time{})
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := nc.Write(frame); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(nc, got); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if !bytes.Equal(got, want) {
					b.Fatal("echo differs")
				}
			})
		}
	}
}

// BenchmarkEchoParallel runs one connection per client goroutine, all in
// flight at once, to measure throughput across shards.
func BenchmarkEchoParallel(b *testing.B) {
	for _, inline := range []bool{true, false} {
		name := "pool"
		if inline {
			name = "inline"
		}
		b.Run(name, func(b *testing.B) {
			_, addr := benchServer(b, shoal.Config{Inline: inline})
			payload := bytes.Repeat([]byte("x"), 64)
			frame := wstest.Build(codec.OpBinary, true, payload)
			b.SetBytes(64)
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				c, err := wstest.Dial(addr, "/")
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				nc := c.Conn
				nc.SetDeadline(time.Time{})
				got := make([]byte, 66)
				for pb.Next() {
					nc.Write(frame)
					if _, err := io.ReadFull(nc, got); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkHandshake measures connect + opening handshake + close, for
// the two ways connections reach a shard: its own SO_REUSEPORT listener,
// or a Go acceptor (Serve) handing the fd over.
func BenchmarkHandshake(b *testing.B) {
	req := func(addr string) []byte {
		return []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	}
	run := func(b *testing.B, addr string) {
		r := req(addr)
		buf := make([]byte, 256)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				nc.Write(r)
				if n, err := nc.Read(buf); err != nil || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101")) {
					b.Errorf("handshake: %q %v", buf[:n], err)
				}
				nc.Close()
			}
		})
	}
	b.Run("reuseport", func(b *testing.B) {
		_, addr := benchServer(b, shoal.Config{})
		run(b, addr)
	})
	b.Run("acceptor", func(b *testing.B) {
		srv, err := shoal.New(shoal.Config{Handler: echo()})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Shutdown(context.Background())
		run(b, ln.Addr().String())
	})
}

func sizeName(n int) string {
	switch {
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// BenchmarkPublish measures fan-out: one 64-byte message published to N
// subscribers held by a separate client process that reads and discards.
// It reports deliveries per second (counted when the kernel took the
// bytes) and allocations per publish, which must not grow with N.
func BenchmarkPublish(b *testing.B) {
	for _, subs := range []int{1000, 10000} {
		b.Run(itoa(subs)+"subs", func(b *testing.B) {
			var srv *shoal.Server
			var subscribed atomic.Int64
			srv, err := shoal.New(shoal.Config{Addr: "127.0.0.1:0", MaxOutbound: 4 << 20,
				Handler: shoal.HandlerFuncs{Open: func(c *shoal.Conn) {
					srv.Subscribe(c, "bench")
					subscribed.Add(1)
				}}})
			if err != nil {
				b.Fatal(err)
			}
			addr, err := srv.Listen()
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
			}()
			clients := spawnClients(b, addr.String(), subs, "drain")
			defer clients.Stop()
			waitFor(b, func() bool { return subscribed.Load() == int64(subs) })
			payload := bytes.Repeat([]byte("p"), 64)
			frame := int64(len(payload) + 2)
			// Warm up: the shards' node caches grow to the in-flight peak
			// once; allocations per publish are measured after that.
			warm := int64(srv.Stats().BytesOut) + 256*frame*int64(subs)
			for i := 0; i < 256; i++ {
				srv.Publish("bench", shoal.Binary, payload)
			}
			for int64(srv.Stats().BytesOut) < warm {
				time.Sleep(100 * time.Microsecond)
			}
			start := int64(srv.Stats().BytesOut)
			b.ReportAllocs()
			b.ResetTimer()
			began := time.Now()
			for i := 0; i < b.N; i++ {
				srv.Publish("bench", shoal.Binary, payload)
				// Keep the backlog to a few frames a subscriber: this
				// measures sustained delivery, not how fast queues fill.
				if i%8 == 7 {
					for srv.Stats().QueuedBytes > 8*frame*int64(subs) {
						time.Sleep(50 * time.Microsecond)
					}
				}
			}
			want := start + int64(b.N)*int64(subs)*frame
			for int64(srv.Stats().BytesOut) < want {
				time.Sleep(100 * time.Microsecond)
			}
			elapsed := time.Since(began)
			b.StopTimer()
			b.ReportMetric(float64(b.N)*float64(subs)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(subs), "subscribers")
			if st := srv.Stats(); st.SlowEvictions+st.SlowDrops > 0 {
				b.Fatalf("slow consumers in a benchmark: %+v", st)
			}
		})
	}
}
