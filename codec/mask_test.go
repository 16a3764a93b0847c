package codec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestMaskRFCExample(t *testing.T) {
	// RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := []byte("Hello")
	if pos := Mask(key, 0, b); pos != 1 {
		t.Errorf("next position = %d, want 1", pos)
	}
	if want := []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}; !bytes.Equal(b, want) {
		t.Fatalf("masked = % x, want % x", b, want)
	}
	Mask(key, 0, b)
	if string(b) != "Hello" {
		t.Fatalf("unmasked = %q", b)
	}
}

// TestMaskMatchesNaive checks the word-at-a-time path against the byte loop
// for every length around the 8- and 32-byte strides and every start position.
func TestMaskMatchesNaive(t *testing.T) {
	key := [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 200; n++ {
		for pos := 0; pos < 4; pos++ {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			fast := bytes.Clone(src)
			naive := bytes.Clone(src)
			gotPos := Mask(key, pos, fast)
			wantPos := maskBytes(key, pos, naive)
			if gotPos != wantPos || !bytes.Equal(fast, naive) {
				t.Fatalf("n=%d pos=%d: Mask differs from byte loop (pos %d vs %d)", n, pos, gotPos, wantPos)
			}
		}
	}
}

// TestMaskSplitReads unmasks a payload in pieces, as it arrives from many
// reads, and must get the same bytes as one call over the whole.
func TestMaskSplitReads(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	whole := make([]byte, 1000)
	for i := range whole {
		whole[i] = byte(i * 7)
	}
	want := bytes.Clone(whole)
	maskBytes(key, 0, want)
	for _, step := range []int{1, 2, 3, 5, 7, 9, 31, 33, 333} {
		got := bytes.Clone(whole)
		pos := 0
		for off := 0; off < len(got); off += step {
			end := min(off+step, len(got))
			pos = Mask(key, pos, got[off:end])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("step %d: split masking differs", step)
		}
	}
}

func TestMaskZeroAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	b := make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() { Mask([4]byte{1, 2, 3, 4}, 1, b) })
	if allocs != 0 {
		t.Fatalf("Mask allocates %v times per run", allocs)
	}
}

func FuzzMask(f *testing.F) {
	f.Add([]byte("Hello"), uint32(0x3d21fa37), 0, 1)
	f.Add(make([]byte, 100), uint32(0xffffffff), 3, 7)
	f.Fuzz(func(t *testing.T, b []byte, k uint32, pos int, split int) {
		key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		naive := bytes.Clone(b)
		wantPos := maskBytes(key, pos&3, naive)
		// Split once at an arbitrary point, carrying the position over.
		fast := bytes.Clone(b)
		cut := 0
		if len(fast) > 0 {
			cut = int(uint(split) % uint(len(fast)+1))
		}
		p := Mask(key, pos, fast[:cut])
		p = Mask(key, p, fast[cut:])
		if p != wantPos || !bytes.Equal(fast, naive) {
			t.Fatalf("split at %d: fast path differs from byte loop", cut)
		}
		Mask(key, pos, fast)
		if !bytes.Equal(fast, b) {
			t.Fatal("masking twice did not restore the input")
		}
	})
}

func BenchmarkMask(b *testing.B) {
	for _, n := range []int{16, 128, 1024, 16 << 10, 1 << 20} {
		buf := make([]byte, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				Mask([4]byte{1, 2, 3, 4}, 1, buf)
			}
		})
	}
}

func BenchmarkMaskNaive(b *testing.B) {
	buf := make([]byte, 16<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		maskBytes([4]byte{1, 2, 3, 4}, 1, buf)
	}
}
