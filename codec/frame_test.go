package codec

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// fromBits builds wire bytes from readable pieces: "1000 0001" is FIN + text.
func fromBits(groups ...string) []byte {
	var out []byte
	for _, g := range groups {
		var b byte
		n := 0
		for _, c := range g {
			switch c {
			case '0', '1':
				b = b<<1 | byte(c-'0')
				n++
			}
		}
		if n != 8 {
			panic("fromBits: group is not 8 bits: " + g)
		}
		out = append(out, b)
	}
	return out
}

func TestDecodeHeaderWireVectors(t *testing.T) {
	mask := []byte{0x37, 0xfa, 0x21, 0x3d}
	tests := []struct {
		name string
		wire []byte
		want Header
	}{
		{
			// RFC 6455 §5.7: a single-frame unmasked text message "Hello".
			name: "rfc unmasked text",
			wire: fromBits("1000 0001", "0000 0101"),
			want: Header{Fin: true, Op: OpText, Length: 5},
		},
		{
			// RFC 6455 §5.7: a single-frame masked text message.
			name: "rfc masked text",
			wire: append(fromBits("1000 0001", "1000 0101"), mask...),
			want: Header{Fin: true, Op: OpText, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 5},
		},
		{
			name: "first fragment",
			wire: fromBits("0000 0001", "0000 0011"),
			want: Header{Op: OpText, Length: 3},
		},
		{
			name: "last continuation",
			wire: fromBits("1000 0000", "0000 0010"),
			want: Header{Fin: true, Op: OpContinuation, Length: 2},
		},
		{
			name: "ping empty",
			wire: fromBits("1000 1001", "0000 0000"),
			want: Header{Fin: true, Op: OpPing},
		},
		{
			name: "pong",
			wire: fromBits("1000 1010", "0000 0101"),
			want: Header{Fin: true, Op: OpPong, Length: 5},
		},
		{
			name: "close",
			wire: fromBits("1000 1000", "0000 0010"),
			want: Header{Fin: true, Op: OpClose, Length: 2},
		},
		{
			name: "binary 125 is the largest 7-bit length",
			wire: fromBits("1000 0010", "0111 1101"),
			want: Header{Fin: true, Op: OpBinary, Length: 125},
		},
		{
			name: "126 takes the 16-bit form",
			wire: fromBits("1000 0010", "0111 1110", "0000 0000", "0111 1110"),
			want: Header{Fin: true, Op: OpBinary, Length: 126},
		},
		{
			name: "127 in the 16-bit form",
			wire: fromBits("1000 0010", "0111 1110", "0000 0000", "0111 1111"),
			want: Header{Fin: true, Op: OpBinary, Length: 127},
		},
		{
			name: "65535 is the largest 16-bit length",
			wire: fromBits("1000 0010", "0111 1110", "1111 1111", "1111 1111"),
			want: Header{Fin: true, Op: OpBinary, Length: 65535},
		},
		{
			name: "65536 takes the 64-bit form",
			wire: fromBits("1000 0010", "0111 1111",
				"0000 0000", "0000 0000", "0000 0000", "0000 0000",
				"0000 0000", "0000 0001", "0000 0000", "0000 0000"),
			want: Header{Fin: true, Op: OpBinary, Length: 65536},
		},
		{
			name: "2^32",
			wire: fromBits("1000 0010", "0111 1111",
				"0000 0000", "0000 0000", "0000 0000", "0000 0001",
				"0000 0000", "0000 0000", "0000 0000", "0000 0000"),
			want: Header{Fin: true, Op: OpBinary, Length: 1 << 32},
		},
		{
			name: "2^63-1 decodes; limits are Rules' job",
			wire: fromBits("1000 0010", "0111 1111",
				"0111 1111", "1111 1111", "1111 1111", "1111 1111",
				"1111 1111", "1111 1111", "1111 1111", "1111 1111"),
			want: Header{Fin: true, Op: OpBinary, Length: 1<<63 - 1},
		},
		{
			name: "masked 64-bit",
			wire: append(fromBits("1000 0010", "1111 1111",
				"0000 0000", "0000 0000", "0000 0000", "0000 0000",
				"0000 0000", "0000 0001", "0000 0000", "0000 0000"), mask...),
			want: Header{Fin: true, Op: OpBinary, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}, Length: 65536},
		},
		{
			name: "rsv bits kept in place",
			wire: fromBits("1111 0001", "0000 0000"),
			want: Header{Fin: true, Rsv: Rsv1 | Rsv2 | Rsv3, Op: OpText},
		},
		{
			name: "reserved opcode decodes; Rules reject it",
			wire: fromBits("1000 0011", "0000 0000"),
			want: Header{Fin: true, Op: 0x3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte("trailing payload bytes must not be consumed")
			h, n, err := DecodeHeader(append(tt.wire, payload...))
			if err != nil {
				t.Fatalf("DecodeHeader: %v", err)
			}
			if n != len(tt.wire) {
				t.Errorf("n = %d, want %d", n, len(tt.wire))
			}
			if h != tt.want {
				t.Errorf("header = %+v, want %+v", h, tt.want)
			}
			if h.Size() != len(tt.wire) {
				t.Errorf("Size() = %d, want %d", h.Size(), len(tt.wire))
			}
			// Every proper prefix asks for more, never past the header.
			for i := 0; i < len(tt.wire); i++ {
				_, need, err := DecodeHeader(tt.wire[:i])
				if !errors.Is(err, ErrNeedMore) {
					t.Fatalf("prefix %d: err = %v, want ErrNeedMore", i, err)
				}
				if need <= i || need > len(tt.wire) {
					t.Fatalf("prefix %d: n = %d, want in (%d, %d]", i, need, i, len(tt.wire))
				}
			}
			// Encoding gives the same bytes back.
			if got := AppendHeader(nil, tt.want); !bytes.Equal(got, tt.wire) {
				t.Errorf("AppendHeader = % x, want % x", got, tt.wire)
			}
		})
	}
}

func TestDecodeHeaderWireErrors(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want error
	}{
		{
			name: "64-bit length with the top bit set",
			wire: fromBits("1000 0010", "0111 1111",
				"1000 0000", "0000 0000", "0000 0000", "0000 0000",
				"0000 0000", "0000 0000", "0000 0000", "0000 0000"),
			want: ErrLengthOverflow,
		},
		{
			name: "2^64-1",
			wire: fromBits("1000 0010", "0111 1111",
				"1111 1111", "1111 1111", "1111 1111", "1111 1111",
				"1111 1111", "1111 1111", "1111 1111", "1111 1111"),
			want: ErrLengthOverflow,
		},
		{
			name: "125 in the 16-bit form",
			wire: fromBits("1000 0010", "0111 1110", "0000 0000", "0111 1101"),
			want: ErrNonMinimalLength,
		},
		{
			name: "65535 in the 64-bit form",
			wire: fromBits("1000 0010", "0111 1111",
				"0000 0000", "0000 0000", "0000 0000", "0000 0000",
				"0000 0000", "0000 0000", "1111 1111", "1111 1111"),
			want: ErrNonMinimalLength,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeHeader(tt.wire)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if code, ok := CloseCodeOf(err); !ok || code != StatusProtocolError {
				t.Errorf("close code = %v %v, want 1002", code, ok)
			}
		})
	}
}

func TestRulesCheck(t *testing.T) {
	masked := func(h Header) Header { h.Masked = true; return h }
	text := Header{Fin: true, Op: OpText, Length: 5}
	tests := []struct {
		name  string
		rules Rules
		h     Header
		want  error
		code  StatusCode
	}{
		{"server accepts masked text", Rules{}, masked(text), nil, 0},
		{"server rejects unmasked", Rules{}, text, ErrUnmaskedFrame, 1002},
		{"client accepts unmasked", Rules{Role: RoleClient}, text, nil, 0},
		{"client rejects masked", Rules{Role: RoleClient}, masked(text), ErrMaskedFrame, 1002},
		{"reserved data opcode 0x3", Rules{}, masked(Header{Fin: true, Op: 0x3}), ErrReservedOpcode, 1002},
		{"reserved data opcode 0x7", Rules{}, masked(Header{Fin: true, Op: 0x7}), ErrReservedOpcode, 1002},
		{"reserved control opcode 0xB", Rules{}, masked(Header{Fin: true, Op: 0xB}), ErrReservedOpcode, 1002},
		{"reserved control opcode 0xF", Rules{}, masked(Header{Fin: true, Op: 0xF}), ErrReservedOpcode, 1002},
		{"rsv1 without extension", Rules{}, masked(Header{Fin: true, Rsv: Rsv1, Op: OpText}), ErrReservedBits, 1002},
		{"rsv2 without extension", Rules{}, masked(Header{Fin: true, Rsv: Rsv2, Op: OpText}), ErrReservedBits, 1002},
		{"rsv3 without extension", Rules{}, masked(Header{Fin: true, Rsv: Rsv3, Op: OpText}), ErrReservedBits, 1002},
		{"rsv1 with extension", Rules{Rsv: Rsv1}, masked(Header{Fin: true, Rsv: Rsv1, Op: OpText}), nil, 0},
		{"rsv2 beyond extension", Rules{Rsv: Rsv1}, masked(Header{Fin: true, Rsv: Rsv1 | Rsv2, Op: OpText}), ErrReservedBits, 1002},
		{"ping of 125", Rules{}, masked(Header{Fin: true, Op: OpPing, Length: 125}), nil, 0},
		{"ping of 126", Rules{}, masked(Header{Fin: true, Op: OpPing, Length: 126}), ErrControlTooLong, 1002},
		{"close of 126", Rules{}, masked(Header{Fin: true, Op: OpClose, Length: 126}), ErrControlTooLong, 1002},
		{"fragmented ping", Rules{}, masked(Header{Op: OpPing}), ErrControlFragmented, 1002},
		{"fragmented pong", Rules{}, masked(Header{Op: OpPong}), ErrControlFragmented, 1002},
		{"fragmented close", Rules{}, masked(Header{Op: OpClose}), ErrControlFragmented, 1002},
		{"fragmented text is fine", Rules{}, masked(Header{Op: OpText, Length: 1}), nil, 0},
		{"at the size limit", Rules{MaxPayload: 1 << 20}, masked(Header{Fin: true, Op: OpBinary, Length: 1 << 20}), nil, 0},
		{"over the size limit", Rules{MaxPayload: 1 << 20}, masked(Header{Fin: true, Op: OpBinary, Length: 1<<20 + 1}), ErrFrameTooBig, 1009},
		{"2^63-1 over the limit", Rules{MaxPayload: 1 << 20}, masked(Header{Fin: true, Op: OpBinary, Length: 1<<63 - 1}), ErrFrameTooBig, 1009},
		{"no limit set", Rules{}, masked(Header{Fin: true, Op: OpBinary, Length: 1 << 40}), nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rules.Check(tt.h)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				return
			}
			if code, ok := CloseCodeOf(err); !ok || code != tt.code {
				t.Errorf("close code = %v, want %v", code, tt.code)
			}
		})
	}
}

func TestEncodeHeaderShortBuffer(t *testing.T) {
	h := Header{Fin: true, Op: OpBinary, Masked: true, Length: 70000}
	buf := make([]byte, MaxHeaderSize)
	if _, err := EncodeHeader(buf[:h.Size()-1], h); !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("err = %v, want io.ErrShortBuffer", err)
	}
	n, err := EncodeHeader(buf, h)
	if err != nil || n != 14 {
		t.Fatalf("EncodeHeader = %d, %v; want 14, nil", n, err)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	lengths := []int64{0, 1, 125, 126, 127, 65535, 65536, 1 << 32, 1<<63 - 1}
	ops := []Opcode{OpContinuation, OpText, OpBinary}
	for _, l := range lengths {
		for _, op := range ops {
			for _, m := range []bool{false, true} {
				h := Header{Fin: l%2 == 0, Op: op, Masked: m, Length: l}
				if m {
					h.Mask = [4]byte{1, 2, 3, byte(l)}
				}
				wire := AppendHeader(nil, h)
				got, n, err := DecodeHeader(wire)
				if err != nil || n != len(wire) || got != h {
					t.Fatalf("round trip %+v: got %+v n=%d err=%v", h, got, n, err)
				}
			}
		}
	}
}

func TestAppendFrame(t *testing.T) {
	// RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
	h := Header{Fin: true, Op: OpText, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}}
	payload := []byte("Hello")
	got := AppendFrame(nil, h, payload)
	want := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = % x, want % x", got, want)
	}
	if string(payload) != "Hello" {
		t.Fatalf("AppendFrame modified its payload: %q", payload)
	}
	// RFC 6455 §5.7: unmasked "Hello".
	got = AppendFrame(nil, Header{Fin: true, Op: OpText}, payload)
	if want := []byte{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}; !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = % x, want % x", got, want)
	}
	// 256-byte binary, 16-bit length form, as in the RFC's example.
	got = AppendFrame(nil, Header{Fin: true, Op: OpBinary}, make([]byte, 256))
	if !bytes.Equal(got[:4], []byte{0x82, 0x7E, 0x01, 0x00}) || len(got) != 260 {
		t.Fatalf("256-byte frame header = % x, len %d", got[:4], len(got))
	}
	// 64 KiB binary, 64-bit length form, as in the RFC's example.
	got = AppendFrame(nil, Header{Fin: true, Op: OpBinary}, make([]byte, 65536))
	if want := []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}; !bytes.Equal(got[:10], want) {
		t.Fatalf("64KiB frame header = % x, want % x", got[:10], want)
	}
}

func TestOpcode(t *testing.T) {
	for op := Opcode(0); op < 16; op++ {
		wantControl := op >= 8
		if op.IsControl() != wantControl {
			t.Errorf("%v.IsControl() = %v", op, op.IsControl())
		}
		wantReserved := (op >= 3 && op <= 7) || op >= 0xB
		if op.IsReserved() != wantReserved {
			t.Errorf("%v.IsReserved() = %v", op, op.IsReserved())
		}
		if op.String() == "" {
			t.Errorf("opcode %d has no name", op)
		}
	}
}

func TestFrameZeroAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	wire := AppendHeader(nil, Header{Fin: true, Op: OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 70000})
	buf := make([]byte, MaxHeaderSize)
	rules := Rules{MaxPayload: 1 << 20}
	var sink int
	allocs := testing.AllocsPerRun(1000, func() {
		h, n, err := DecodeHeader(wire)
		if err != nil || rules.Check(h) != nil {
			t.Fatal("unexpected error")
		}
		m, _ := EncodeHeader(buf, h)
		sink += n + m
		// Error paths allocate nothing either.
		_, _, err = DecodeHeader(wire[:3])
		if err != ErrNeedMore {
			t.Fatal(err)
		}
		h.Masked = false
		if rules.Check(h) != ErrUnmaskedFrame {
			t.Fatal("expected ErrUnmaskedFrame")
		}
	})
	if allocs != 0 {
		t.Fatalf("header decode/check/encode allocate %v times per run, want 0", allocs)
	}
	_ = sink
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	f.Add([]byte{0x82, 0x7E, 0x01, 0x00})
	f.Add([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{0x89, 0x80, 0, 0, 0, 0})
	f.Add([]byte{0x7F})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := DecodeHeader(b)
		if n < 2 || n > MaxHeaderSize {
			t.Fatalf("n = %d outside [2, %d]", n, MaxHeaderSize)
		}
		if errors.Is(err, ErrNeedMore) {
			if n <= len(b) {
				t.Fatalf("ErrNeedMore with n = %d <= len %d", n, len(b))
			}
			return
		}
		if n > len(b) {
			t.Fatalf("n = %d past the input (len %d)", n, len(b))
		}
		if err != nil {
			if _, ok := CloseCodeOf(err); !ok {
				t.Fatalf("error without a close code: %v", err)
			}
			return
		}
		if h.Length < 0 {
			t.Fatalf("negative length %d", h.Length)
		}
		// A decoded header re-encodes to the bytes it came from.
		if got := AppendHeader(nil, h); !bytes.Equal(got, b[:n]) {
			t.Fatalf("re-encoded % x, decoded from % x", got, b[:n])
		}
		for _, r := range []Rules{{}, {Role: RoleClient}, {MaxPayload: 1 << 16}} {
			if err := r.Check(h); err != nil {
				if _, ok := CloseCodeOf(err); !ok {
					t.Fatalf("check error without a close code: %v", err)
				}
			} else if r.MaxPayload > 0 && h.Length > r.MaxPayload {
				t.Fatalf("length %d passed the limit %d", h.Length, r.MaxPayload)
			}
		}
	})
}

func BenchmarkDecodeHeader(b *testing.B) {
	wire := AppendHeader(nil, Header{Fin: true, Op: OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 1024})
	rules := Rules{MaxPayload: 1 << 20}
	b.ReportAllocs()
	var sink int64
	for b.Loop() {
		h, _, err := DecodeHeader(wire)
		if err != nil || rules.Check(h) != nil {
			b.Fatal("decode failed")
		}
		sink += h.Length
	}
	_ = sink
}

func BenchmarkEncodeHeader(b *testing.B) {
	h := Header{Fin: true, Op: OpBinary, Length: 1024}
	buf := make([]byte, MaxHeaderSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeHeader(buf, h); err != nil {
			b.Fatal(err)
		}
	}
}
