package tlsio_test

import (
	"crypto/tls"
	"net"
	"runtime"
	"testing"

	"github.com/shoalws/shoal/internal/tlsio"
)

// BenchmarkIdleConnHeap reports the heap a server tls.Conn holds once
// idle (B/conn): just after its handshake, after it read a 16 KiB
// message, and after that with Trim, which is what an idle TLS
// connection on a shard costs. Each op is 100 connections over
// net.Pipe; the clients are dropped before the heap is read.
func BenchmarkIdleConnHeap(b *testing.B) {
	for _, tt := range []struct {
		name    string
		message int
		trim    bool
	}{{"handshake", 0, false}, {"after-16KiB", 16 << 10, false}, {"after-16KiB-trimmed", 16 << 10, true}} {
		b.Run(tt.name, func(b *testing.B) {
			var perConn float64
			for range b.N {
				perConn = idleHeap(b, 100, tt.message, tt.trim)
			}
			b.ReportMetric(perConn, "B/conn")
		})
	}
}

func idleHeap(b *testing.B, n, message int, trim bool) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	servers := make([]*tls.Conn, 0, n)
	for range n {
		a, c := net.Pipe()
		srv := tls.Server(tlsio.NewTransport(a), ca.ServerConfig())
		cl := tls.Client(c, ca.ClientConfig("127.0.0.1"))
		done := make(chan error, 1)
		go func() {
			err := cl.Handshake()
			if err == nil && message > 0 {
				_, err = cl.Write(make([]byte, message))
			}
			done <- err
		}()
		if err := srv.Handshake(); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, message)
		for got := 0; got < message; {
			k, err := srv.Read(buf[got:])
			if err != nil {
				b.Fatal(err)
			}
			got += k
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if trim && !tlsio.Trim(srv) {
			b.Fatal("Trim refused an idle connection")
		}
		servers = append(servers, srv)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(servers)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}
