package bufpool

import (
	"sync"
	"testing"
)

func TestClassOf(t *testing.T) {
	tests := []struct{ n, class int }{
		{0, 0}, {1, 0}, {256, 0}, {257, 1}, {512, 1}, {513, 2},
		{64 << 10, 8}, {4 << 20, 14}, {4<<20 + 1, -1},
	}
	for _, tt := range tests {
		if got := classOf(tt.n); got != tt.class {
			t.Errorf("classOf(%d) = %d, want %d", tt.n, got, tt.class)
		}
	}
}

func TestGetCapacityAndRefs(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 1000, 70000, 4 << 20, 5 << 20} {
		b := Get(n)
		if cap(b.B) < n || len(b.B) != 0 {
			t.Fatalf("Get(%d): len %d cap %d", n, len(b.B), cap(b.B))
		}
		if b.Refs() != 1 {
			t.Fatalf("Get(%d): refs %d, want 1", n, b.Refs())
		}
		b.Release()
	}
}

// TestSharedRelease: a buffer referenced by many holders on many
// goroutines returns to the pool exactly once, when the last lets go.
func TestSharedRelease(t *testing.T) {
	b := Get(100)
	const holders = 1000
	for i := 1; i < holders; i++ {
		b.Ref()
	}
	var wg sync.WaitGroup
	for i := 0; i < holders-1; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); b.Release() }()
	}
	wg.Wait()
	if b.Refs() != 1 {
		t.Fatalf("refs = %d after %d releases, want 1", b.Refs(), holders-1)
	}
	b.Release()
	defer func() {
		if recover() == nil {
			t.Fatal("releasing a dead buffer did not panic")
		}
	}()
	b.Release()
}

func TestGrowKeepsBytes(t *testing.T) {
	b := Get(4)
	b.B = append(b.B, "abcd"...)
	b = Grow(b, 10)
	if cap(b.B)-len(b.B) < 10 || string(b.B) != "abcd" {
		t.Fatalf("Grow small: %q cap %d", b.B, cap(b.B))
	}
	b.B = append(b.B, make([]byte, 300)...)
	b = Grow(b, 5000)
	if string(b.B[:4]) != "abcd" || len(b.B) != 304 || cap(b.B) < 5304 {
		t.Fatalf("Grow across classes: len %d cap %d", len(b.B), cap(b.B))
	}
	b.Release()
	if Grow(nil, 10).Refs() != 1 {
		t.Fatal("Grow(nil) must behave as Get")
	}
}

func BenchmarkGetRelease(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Get(1000).Release()
	}
}
