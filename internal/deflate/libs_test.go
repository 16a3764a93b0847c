package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"

	kflate "github.com/klauspost/compress/flate"

	"github.com/shoalws/shoal/internal/chatjson"
)

// The benchmarks in this file chose the flate library (DESIGN.md,
// "Compression"): klauspost/compress/flate against the standard
// library's compress/flate, on chat-like JSON of 200 to 2,000 bytes, per
// message as permessage-deflate compresses it.
//
//	go test -run '^$' -bench Lib -benchmem ./internal/deflate/

var corpus = chatjson.Messages(7, 2000)

// threadCPU measures the CPU time the benchmark's thread spends, which
// other processes on a busy machine disturb far less than wall time, and
// reports it per operation as cpu-ns/op.
func threadCPU(b *testing.B) func() {
	runtime.LockOSThread()
	start := rusageThread()
	return func() {
		b.ReportMetric(float64(rusageThread()-start)/float64(b.N), "cpu-ns/op")
		runtime.UnlockOSThread()
	}
}

func rusageThread() int64 {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD, Linux
	_ = syscall.Getrusage(rusageThread, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func corpusBytes() int {
	n := 0
	for _, m := range corpus {
		n += len(m)
	}
	return n
}

type resetWriter interface {
	io.Writer
	Flush() error
}

// benchCompress compresses each message alone (no context takeover) or
// with the messages before it (takeover), reporting the wire ratio.
func benchCompress(b *testing.B, w resetWriter, reset func(dst io.Writer, dict []byte), window int) {
	var out bytes.Buffer
	var hist []byte
	in, wire := 0, 0
	b.SetBytes(int64(corpusBytes() / len(corpus)))
	b.ReportAllocs()
	b.ResetTimer()
	defer threadCPU(b)()
	for i := range b.N {
		m := corpus[i%len(corpus)]
		out.Reset()
		var dict []byte
		if window > 0 {
			dict = hist[max(0, len(hist)-window):]
		}
		reset(&out, dict)
		w.Write(m)
		w.Flush()
		in += len(m)
		wire += out.Len() - 4
		if window > 0 {
			hist = append(hist[max(0, len(hist)-window):], m...)
		}
	}
	b.ReportMetric(float64(wire)/float64(in), "wire/raw")
}

func BenchmarkLibCompress(b *testing.B) {
	for _, level := range []int{1, 2, 3, 5, 6} {
		b.Run(fmt.Sprintf("std/level%d", level), func(b *testing.B) {
			w, _ := stdflate.NewWriter(nil, level)
			benchCompress(b, w, func(dst io.Writer, dict []byte) { w.Reset(dst) }, 0)
		})
		b.Run(fmt.Sprintf("klauspost/level%d", level), func(b *testing.B) {
			w, _ := kflate.NewWriter(nil, level)
			benchCompress(b, w, func(dst io.Writer, dict []byte) { w.ResetDict(dst, nil) }, 0)
		})
	}
	b.Run("klauspost/stateless", func(b *testing.B) {
		var out bytes.Buffer
		in, wire := 0, 0
		b.ReportAllocs()
		defer threadCPU(b)()
		for i := range b.N {
			m := corpus[i%len(corpus)]
			out.Reset()
			kflate.StatelessDeflate(&out, m, false, nil)
			in += len(m)
			wire += out.Len() - 4
		}
		b.ReportMetric(float64(wire)/float64(in), "wire/raw")
	})
}

// BenchmarkLibCompressTakeover: context takeover with a window of 1<<bits
// bytes. Only klauspost can keep a window under 32 KiB (NewWriterWindow):
// the standard library's compressor may refer back 32 KiB whatever the
// dictionary, which a peer that asked for a smaller window cannot inflate.
func BenchmarkLibCompressTakeover(b *testing.B) {
	for _, bits := range []int{8, 9, 10, 11, 12, 13, 15} {
		b.Run(fmt.Sprintf("klauspost/bits%d", bits), func(b *testing.B) {
			w, _ := kflate.NewWriterWindow(nil, 1<<bits)
			if bits == 15 {
				w, _ = kflate.NewWriter(nil, 1)
			}
			benchCompress(b, w, func(dst io.Writer, dict []byte) { w.ResetDict(dst, dict) }, 1<<bits)
		})
	}
}

func BenchmarkLibInflate(b *testing.B) {
	payloads := make([][]byte, len(corpus))
	pool := NewPool(DefaultLevel, 1)
	for i, m := range corpus {
		c := pool.Get(15)
		payloads[i] = append(c.Append(nil, m, nil), messageEnd...)
		pool.Put(c)
	}
	out := make([]byte, 64<<10)
	var src bytes.Reader
	run := func(b *testing.B, r io.Reader, reset func()) {
		b.SetBytes(int64(corpusBytes() / len(corpus)))
		b.ReportAllocs()
		b.ResetTimer()
		defer threadCPU(b)()
		for i := range b.N {
			src.Reset(payloads[i%len(payloads)])
			reset()
			if _, err := io.ReadFull(r, out[:len(corpus[i%len(corpus)])]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("std", func(b *testing.B) {
		r := stdflate.NewReader(&src)
		run(b, r, func() { r.(stdflate.Resetter).Reset(&src, nil) })
	})
	b.Run("klauspost", func(b *testing.B) {
		r := kflate.NewReader(&src)
		run(b, r, func() { r.(kflate.Resetter).Reset(&src, nil) })
	})
}

// TestLibMemory logs what one compressor and one inflater of each
// library hold on the heap: what a connection would pay for keeping its
// own, and a pool pays per compressor lent.
func TestLibMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measurement")
	}
	heap := func(make func() any) uint64 {
		var keep []any
		var a, z runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		for range 20 {
			keep = append(keep, make())
		}
		runtime.GC()
		runtime.ReadMemStats(&z)
		runtime.KeepAlive(keep)
		return (z.HeapAlloc - a.HeapAlloc) / 20
	}
	m := corpus[0]
	use := func(w resetWriter) { w.Write(m); w.Flush() }
	for _, tc := range []struct {
		name string
		make func() any
	}{
		{"std writer level 1", func() any { w, _ := stdflate.NewWriter(io.Discard, 1); use(w); return w }},
		{"klauspost writer level 1", func() any { w, _ := kflate.NewWriter(io.Discard, 1); use(w); return w }},
		{"klauspost writer level 5", func() any { w, _ := kflate.NewWriter(io.Discard, 5); use(w); return w }},
		{"klauspost writer window 1 KiB", func() any { w, _ := kflate.NewWriterWindow(io.Discard, 1024); use(w); return w }},
		{"std reader", func() any { return stdflate.NewReader(bytes.NewReader(nil)) }},
		{"klauspost reader", func() any { return kflate.NewReader(bytes.NewReader(nil)) }},
	} {
		t.Logf("%-30s %6d KiB", tc.name, heap(tc.make)>>10)
	}
}
