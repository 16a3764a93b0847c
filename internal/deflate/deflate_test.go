package deflate

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/internal/chatjson"
)

// stdInflate inflates a payload with the standard library, an
// implementation independent of the one compressing.
func stdInflate(t testing.TB, payload, dict []byte) []byte {
	t.Helper()
	r := stdflate.NewReaderDict(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(messageEnd)), dict)
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("compress/flate cannot inflate the payload: %v", err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	msgs := append(chatjson.Messages(1, 50), nil, []byte("x"), bytes.Repeat([]byte("abc"), 100<<10))
	for _, level := range []int{1, 2, 5, 9} {
		for bits := uint8(8); bits <= 15; bits++ {
			for _, takeover := range []bool{false, true} {
				name := fmt.Sprintf("level%d/bits%d/takeover=%v", level, bits, takeover)
				t.Run(name, func(t *testing.T) {
					pool := NewPool(level, 1)
					var f Inflater
					send, recv := NewWindow(bits), NewWindow(bits)
					for i, m := range msgs {
						var dict, rdict []byte
						if takeover {
							dict, rdict = send.Bytes(), recv.Bytes()
						}
						c := pool.Get(bits)
						payload := c.Append(nil, m, dict)
						pool.Put(c)
						if got := stdInflate(t, payload, dict); !bytes.Equal(got, m) {
							t.Fatalf("message %d: compress/flate inflates %d bytes, want %d", i, len(got), len(m))
						}
						b, err := f.Inflate(nil, payload, rdict, 1<<20)
						if err != nil || !bytes.Equal(b.B, m) {
							t.Fatalf("message %d: Inflate: %v, equal %v", i, err, err == nil && bytes.Equal(b.B, m))
						}
						b.Release()
						if takeover {
							send.Write(m)
							recv.Write(m)
						}
					}
				})
			}
		}
	}
}

// Context takeover pays off: a message that repeats the previous one
// costs a few bytes.
func TestTakeoverUsesContext(t *testing.T) {
	m := chatjson.Messages(2, 1)[0]
	pool := NewPool(DefaultLevel, 1)
	c := pool.Get(15)
	defer pool.Put(c)
	alone := len(c.Append(nil, m, nil))
	again := len(c.Append(nil, m, m))
	if again > 16 || again >= alone {
		t.Errorf("a repeated %d-byte message: %d bytes alone, %d with itself as context", len(m), alone, again)
	}
}

func TestInflateLimit(t *testing.T) {
	pool := NewPool(DefaultLevel, 1)
	c := pool.Get(15)
	// 64 MiB of zeros compress to about 64 KiB: a bomb.
	bomb := c.Append(nil, make([]byte, 64<<20), nil)
	pool.Put(c)
	var f Inflater
	for _, limit := range []int64{0, 1000, 1 << 20} {
		b, err := f.Inflate(nil, bomb, nil, limit)
		if !errors.Is(err, ErrTooBig) || b != nil {
			t.Errorf("limit %d: %v", limit, err)
		}
		// Streaming: the reader stops one byte past the limit.
		f.Reset(bomb, nil, limit)
		n, err := io.Copy(io.Discard, &f)
		if !errors.Is(err, ErrTooBig) || n != limit {
			t.Errorf("limit %d: read %d bytes then %v", limit, n, err)
		}
		f.Finish()
	}
	exact := make([]byte, 1000)
	c = pool.Get(15)
	p := c.Append(nil, exact, nil)
	pool.Put(c)
	if b, err := f.Inflate(nil, p, nil, 1000); err != nil || len(b.B) != 1000 {
		t.Errorf("a message of exactly the limit: %v", err)
	}
}

// A bomb costs memory up to the limit, not what it would inflate to.
func TestInflateBombMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation")
	}
	pool := NewPool(DefaultLevel, 1)
	c := pool.Get(15)
	bomb := c.Append(nil, make([]byte, 256<<20), nil)
	pool.Put(c)
	var f Inflater
	f.Inflate(nil, []byte{0}, nil, 1) // the decoder is made once
	const limit = 1 << 20
	allocs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			f.Inflate(nil, bomb, nil, limit)
		}
	})
	if per := allocs.AllocedBytesPerOp(); per > 3*limit {
		t.Errorf("a %d KiB bomb of 256 MiB allocates %d bytes per inflation with a 1 MiB limit", len(bomb)>>10, per)
	}
}

func TestInflateCorrupt(t *testing.T) {
	var f Inflater
	for _, p := range [][]byte{{0xff}, {0x02, 0xff, 0xff}, bytes.Repeat([]byte{0xff}, 100)} {
		if _, err := f.Inflate(nil, p, nil, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Errorf("% x: %v, want ErrCorrupt", p, err)
		}
	}
	// A payload cut short.
	pool := NewPool(DefaultLevel, 1)
	c := pool.Get(15)
	p := c.Append(nil, chatjson.Messages(3, 1)[0], nil)
	pool.Put(c)
	if _, err := f.Inflate(nil, p[:len(p)/2], nil, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Errorf("half a payload: %v, want ErrCorrupt", err)
	}
}

func TestPoolBound(t *testing.T) {
	p := NewPool(0, 2)
	if p.Level() != DefaultLevel {
		t.Errorf("level %d", p.Level())
	}
	a, b := p.Get(15), p.Get(9)
	if a == nil || b == nil || b.Bits() != 9 {
		t.Fatalf("Get: %v %v", a, b)
	}
	if c := p.Get(15); c != nil || p.Refused() != 1 {
		t.Fatalf("a third compressor lent past the bound (refused %d)", p.Refused())
	}
	p.Put(a)
	if c := p.Get(15); c == nil {
		t.Fatal("nothing lent after a Put")
	}
}

func TestWindow(t *testing.T) {
	w := NewWindow(8)
	if w.Size() != 256 || w.Bytes() != nil {
		t.Fatalf("size %d", w.Size())
	}
	var all []byte
	for i := range 100 {
		p := bytes.Repeat([]byte{byte(i)}, i*7%50)
		w.Write(p)
		all = append(all, p...)
		want := all[max(0, len(all)-256):]
		if !bytes.Equal(w.Bytes(), want) {
			t.Fatalf("after %d writes: %d bytes, want the last %d", i+1, len(w.Bytes()), len(want))
		}
	}
	big := bytes.Repeat([]byte("xyz"), 1000)
	w.Write(big)
	if !bytes.Equal(w.Bytes(), big[len(big)-256:]) {
		t.Fatal("a write larger than the window")
	}
}

func TestForRole(t *testing.T) {
	p := codec.DeflateParams{ServerNoContextTakeover: true, ClientMaxWindowBits: 10}
	server := ForRole(p, codec.RoleServer)
	if server != (Params{Send: Direction{false, 15}, Recv: Direction{true, 10}}) || !server.Send.Stateless() || server.Recv.Stateless() {
		t.Errorf("server: %+v", server)
	}
	if client := ForRole(p, codec.RoleClient); client != (Params{Send: server.Recv, Recv: server.Send}) {
		t.Errorf("client: %+v", client)
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	msgs := chatjson.Messages(4, 20)
	pool := NewPool(DefaultLevel, 1)
	var f Inflater
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		c := pool.Get(15)
		payloads[i] = c.Append(nil, m, nil)
		pool.Put(c)
	}
	dst := make([]byte, 0, 4096)
	win := NewWindow(10)
	win.Write(msgs[0])
	i := 0
	if n := testing.AllocsPerRun(200, func() {
		c := pool.Get(15)
		c.Append(dst, msgs[i%len(msgs)], nil)
		pool.Put(c)
		b, _ := f.Inflate(nil, payloads[i%len(msgs)], nil, 1<<20)
		b.Release()
		i++
	}); n != 0 {
		t.Errorf("compress and inflate: %v allocations, want 0", n)
	}
	c := pool.Get(10)
	defer pool.Put(c)
	if n := testing.AllocsPerRun(200, func() {
		win.Write(c.Append(dst, msgs[i%len(msgs)], win.Bytes()))
		i++
	}); n != 0 {
		t.Errorf("compress with a window: %v allocations, want 0", n)
	}
}

// FuzzInflate feeds anything to the inflater: it must end with the
// message, ErrTooBig or ErrCorrupt, never read past the limit, and agree
// with the standard library on every payload that inflates there.
//
// The converse does not hold: klauspost/compress v1.20 keeps a Huffman
// table across Reset when a block declares an empty distance tree and
// then uses a distance anyway, which the standard library refuses; it
// then produces bytes (bounded by the limit like any output) from a
// payload that is corrupt anyway. The seed 00fa3625f93b4729 is one.
func FuzzInflate(f *testing.F) {
	pool := NewPool(DefaultLevel, 1)
	c := pool.Get(15)
	for _, m := range chatjson.Messages(5, 4) {
		f.Add(c.Append(nil, m, nil), uint32(1<<20))
	}
	f.Add(c.Append(nil, make([]byte, 1<<20), nil), uint32(1000))
	pool.Put(c)
	f.Add([]byte{0xff, 0x00}, uint32(10))
	var inf Inflater
	f.Fuzz(func(t *testing.T, payload []byte, limit uint32) {
		limit %= 4 << 20
		b, err := inf.Inflate(nil, payload, nil, int64(limit))
		switch {
		case err == nil:
			if int64(len(b.B)) > int64(limit) {
				t.Fatalf("%d bytes past a limit of %d", len(b.B), limit)
			}
		case errors.Is(err, ErrTooBig), errors.Is(err, ErrCorrupt):
			if b != nil {
				t.Fatal("a buffer returned with an error")
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
		r := stdflate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(messageEnd)))
		want, stdErr := io.ReadAll(io.LimitReader(r, int64(limit)+1))
		switch {
		case stdErr != nil:
		case len(want) > int(limit):
			if !errors.Is(err, ErrTooBig) {
				t.Fatalf("compress/flate inflates past the limit; Inflate: %v", err)
			}
		case err != nil:
			t.Fatalf("compress/flate inflates %d bytes; Inflate: %v", len(want), err)
		case !bytes.Equal(b.B, want):
			t.Fatalf("inflated %d bytes, compress/flate %d", len(b.B), len(want))
		}
		if b != nil {
			b.Release()
		}
	})
}
