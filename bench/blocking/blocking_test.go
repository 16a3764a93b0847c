package blocking

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

func start(tb testing.TB, lib Lib, path string) Client {
	tb.Helper()
	base, stop, err := Serve(lib)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := lib.Dial(ctx, base+path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// TestLibs checks what the benchmarks rely on, for every library: echoes
// come back exactly, and streamed messages are all read before Sync
// returns.
func TestLibs(t *testing.T) {
	for _, lib := range Libs {
		t.Run(lib.Name, func(t *testing.T) {
			c := start(t, lib, "/echo")
			for _, n := range []int{0, 64, 16 << 10, 1 << 20} {
				want := payload(n)
				got, err := c.RoundTrip(want)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("echo of %d bytes: %d back, %v", n, len(got), err)
				}
			}
			d := start(t, lib, "/drain")
			for range 3 {
				if err := d.Stream(payload(1<<20), 32<<10); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkEcho: one message in flight; ns/op is a round trip.
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 16 << 10} {
		for _, lib := range Libs {
			b.Run(fmt.Sprintf("%dB/%s", size, lib.Name), func(b *testing.B) {
				c := start(b, lib, "/echo")
				p := payload(size)
				b.SetBytes(int64(2 * size))
				b.ReportAllocs()
				for b.Loop() {
					if got, err := c.RoundTrip(p); err != nil || len(got) != size {
						b.Fatalf("%d bytes back, %v", len(got), err)
					}
				}
			})
		}
	}
}

// BenchmarkStream1MiB: 1 MiB messages one way, streamed in 32 KiB writes
// and read by a streaming reader; ns/op is a message.
func BenchmarkStream1MiB(b *testing.B) {
	for _, lib := range Libs {
		b.Run(lib.Name, func(b *testing.B) {
			c := start(b, lib, "/drain")
			p := payload(1 << 20)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := c.Stream(p, 32<<10); err != nil {
					b.Fatal(err)
				}
			}
			// Timed too: the server has read every byte when it answers.
			if err := c.Sync(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
