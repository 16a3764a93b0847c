package shoal_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/wstest"
)

// BenchmarkTLSEchoRoundTrip is BenchmarkEchoRoundTrip over wss://: one
// message echoed over loopback, one in flight, handlers inline. The
// client's crypto/tls runs in the same process, so ns/op counts both
// ends' sealing and opening; allocations are per round trip, both ends.
func BenchmarkTLSEchoRoundTrip(b *testing.B) {
	for _, size := range []int{64, 1024, 16 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			cfg := shoal.Config{Shards: 1, Inline: true, TLS: testCA.ServerConfig()}
			_, addr := benchServer(b, cfg)
			c, err := wstest.DialTLS(addr, "/", clientTLS())
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

// BenchmarkTLSHandshake measures connect, TLS handshake (TLS 1.3,
// ECDSA P-256, the default key exchange), WebSocket handshake and close,
// with the clients in this process: the client's half of the
// cryptography is in ns/op too.
func BenchmarkTLSHandshake(b *testing.B) {
	_, addr := benchServer(b, shoal.Config{TLS: testCA.ServerConfig()})
	req := []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	cfg := clientTLS()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 256)
		for pb.Next() {
			nc, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				b.Error(err)
				return
			}
			nc.Write(req)
			if n, err := nc.Read(buf); err != nil || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101")) {
				b.Errorf("handshake: %q %v", buf[:n], err)
			}
			nc.Close()
		}
	})
}

// BenchmarkTLSPublish is BenchmarkPublish over wss://: one 64-byte
// message published to N TLS subscribers in a separate client process.
// The frame is encoded once and shared; each subscriber's shard seals it
// into that subscriber's records. Deliveries are counted once every
// sealed byte has left (queues empty), so the figure is sustained
// encrypt-and-write throughput; compare with BenchmarkPublish for what
// the per-connection encryption costs.
func BenchmarkTLSPublish(b *testing.B) {
	const subs = 1000
	caFile := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, testCA.CAPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv(clientTLSEnv, caFile)
	var srv *shoal.Server
	var subscribed atomic.Int64
	srv, err := shoal.New(shoal.Config{Addr: "127.0.0.1:0", MaxOutbound: 4 << 20, TLS: testCA.ServerConfig(),
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
	waitFor(b, func() bool { return subscribed.Load() == subs })
	payload := bytes.Repeat([]byte("p"), 64)
	frame := int64(len(payload) + 2)
	settle := func(msgs uint64) {
		for srv.Stats().MessagesOut < msgs || srv.Stats().QueuedBytes > 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	for i := 0; i < 256; i++ {
		srv.Publish("bench", shoal.Binary, payload)
	}
	settle(256 * subs)
	start := srv.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	for i := 0; i < b.N; i++ {
		srv.Publish("bench", shoal.Binary, payload)
		if i%8 == 7 {
			for srv.Stats().QueuedBytes > 8*frame*subs {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	settle(start.MessagesOut + uint64(b.N)*subs)
	elapsed := time.Since(began)
	b.StopTimer()
	end := srv.Stats()
	b.ReportMetric(float64(b.N)*subs/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(end.BytesOut-start.BytesOut)/float64(b.N*subs), "wire-B/delivery")
	if end.SlowEvictions+end.SlowDrops > 0 {
		b.Fatalf("slow consumers in a benchmark: %+v", end)
	}
}
