package codec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUTF8Validator(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"empty", "", true},
		{"ascii", "Hello, world", true},
		{"two-byte", "\xc2\xa2", true},          // ¢
		{"three-byte", "\xe2\x82\xac", true},    // €
		{"four-byte", "\xf0\x9f\x98\x80", true}, // 😀
		{"autobahn 6.2 hello", "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", true},
		{"kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true},
		{"largest code point U+10FFFF", "\xf4\x8f\xbf\xbf", true},
		{"above U+10FFFF", "\xf4\x90\x80\x80", false},
		{"lead F5", "\xf5\x80\x80\x80", false},
		{"lead FF", "\xff", false},
		{"lone continuation", "\x80", false},
		{"overlong 2-byte C0", "\xc0\xaf", false},
		{"overlong 2-byte C1", "\xc1\xbf", false},
		{"overlong 3-byte", "\xe0\x80\xaf", false},
		{"smallest 3-byte", "\xe0\xa0\x80", true},
		{"overlong 4-byte", "\xf0\x80\x80\xaf", false},
		{"smallest 4-byte", "\xf0\x90\x80\x80", true},
		{"surrogate D800", "\xed\xa0\x80", false},
		{"surrogate DFFF", "\xed\xbf\xbf", false},
		{"just below surrogates", "\xed\x9f\xbf", true},
		{"truncated 2-byte", "\xc2", false},
		{"truncated 4-byte", "\xf0\x9f\x98", false},
		{"ascii after bad lead", "ab\xc3(cd", false},
		{"invalid after 8 ascii", "abcdefgh\xff", false},
		{"U+FFFE noncharacter is valid UTF-8", "\xef\xbf\xbe", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if utf8.ValidString(tt.in) != tt.valid {
				t.Fatalf("test case disagrees with unicode/utf8")
			}
			var v UTF8Validator
			v.Write([]byte(tt.in))
			if v.Complete() != tt.valid {
				t.Errorf("whole: Complete() = %v, want %v", v.Complete(), tt.valid)
			}
			// Byte by byte, as a code point split across frames.
			v.Reset()
			for i := 0; i < len(tt.in); i++ {
				v.Write([]byte{tt.in[i]})
			}
			if v.Complete() != tt.valid {
				t.Errorf("bytewise: Complete() = %v, want %v", v.Complete(), tt.valid)
			}
		})
	}
}

// TestUTF8FailsFast: the validator must report an invalid stream at the
// first bad byte, not at the end of the message, so a server can fail a
// text message early (Autobahn 6.4.x).
func TestUTF8FailsFast(t *testing.T) {
	var v UTF8Validator
	if !v.Write([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")) {
		t.Fatal("valid prefix rejected")
	}
	if v.Write([]byte("\xf4\x90\x80\x80")) {
		t.Fatal("invalid bytes accepted")
	}
	if v.Write([]byte("edited")) {
		t.Fatal("validator forgot it had failed")
	}
	var w UTF8Validator
	if !w.Write([]byte("\xf0\x9f")) || w.Complete() {
		t.Fatal("partial code point must be a valid prefix but not complete")
	}
}

func TestUTF8ZeroAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	b := []byte(strings.Repeat("héllo wörld ", 100))
	var v UTF8Validator
	allocs := testing.AllocsPerRun(100, func() {
		v.Reset()
		if !v.Write(b) {
			t.Fatal("rejected valid text")
		}
	})
	if allocs != 0 {
		t.Fatalf("UTF8Validator allocates %v times per run", allocs)
	}
}

func FuzzUTF8(f *testing.F) {
	f.Add([]byte("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6"), uint8(3), uint8(5))
	f.Add([]byte("\xf0\x9f\x98\x80\xed\xa0\x80"), uint8(1), uint8(2))
	f.Add([]byte("abcdefghijklmnop\xf4\x90"), uint8(9), uint8(17))
	f.Fuzz(func(t *testing.T, b []byte, cut1, cut2 uint8) {
		want := utf8.Valid(b)
		// Feed in three arbitrary pieces.
		i := min(int(cut1), len(b))
		j := min(i+int(cut2), len(b))
		var v UTF8Validator
		v.Write(b[:i])
		v.Write(b[i:j])
		ok := v.Write(b[j:])
		if v.Complete() != want {
			t.Fatalf("Complete() = %v, utf8.Valid = %v for %q split at %d,%d", v.Complete(), want, b, i, j)
		}
		// Write must keep saying true exactly as long as some continuation
		// could still make the stream valid: fail fast, but never early.
		if ok != prefixCanComplete(b) {
			t.Fatalf("Write = %v for %q, but completable = %v", ok, b, !ok)
		}
	})
}

// prefixCanComplete reports whether some bytes appended to b make it valid
// UTF-8: b is valid up to an incomplete code point of at most 3 bytes.
func prefixCanComplete(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	for k := 1; k <= 3 && k <= len(b); k++ {
		if utf8.Valid(b[:len(b)-k]) && completesRune(b[len(b)-k:]) {
			return true
		}
	}
	return false
}

// completesRune reports whether tail is the start of some valid encoded
// rune. Only the byte after the lead has a restricted range, so trying
// every value there and 0x80 after it is exhaustive.
func completesRune(tail []byte) bool {
	for next := 0x80; next <= 0xBF; next++ {
		for n := len(tail) + 1; n <= 4; n++ {
			buf := append(bytes.Clone(tail), byte(next))
			for len(buf) < n {
				buf = append(buf, 0x80)
			}
			if utf8.FullRune(buf) && utf8.Valid(buf) {
				return true
			}
		}
	}
	return false
}

func BenchmarkUTF8(b *testing.B) {
	inputs := map[string]string{
		"ascii": strings.Repeat("The quick brown fox jumps over the lazy dog. ", 400),
		"mixed": strings.Repeat("Grüße aus Köln, 東京からこんにちは, emoji 😀! ", 200),
		"cjk":   strings.Repeat("東京からこんにちは世界", 500),
	}
	for _, name := range []string{"ascii", "mixed", "cjk"} {
		in := []byte(inputs[name])
		b.Run(fmt.Sprintf("%s/%d", name, len(in)), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			var v UTF8Validator
			for b.Loop() {
				v.Reset()
				v.Write(in)
			}
		})
	}
}

func BenchmarkUTF8Stdlib(b *testing.B) {
	in := []byte(strings.Repeat("Grüße aus Köln, 東京からこんにちは, emoji 😀! ", 200))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		utf8.Valid(in)
	}
}
