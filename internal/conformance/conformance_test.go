package conformance

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shoalws/shoal/codec"
)

// The suite runs against a server in internal/e2e; these tests check the
// case table and the client's helpers, which need none.

func TestCasesPerGroup(t *testing.T) {
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 38, "9": 54, "10": 1, "12": 38, "13": 81, "x": 6}
	got := map[string]int{}
	seen := map[string]bool{}
	for _, c := range Cases() {
		if seen[c.ID] {
			t.Errorf("case id %s appears twice", c.ID)
		}
		seen[c.ID] = true
		if c.Desc == "" || c.run == nil {
			t.Errorf("case %s has no description or no run function", c.ID)
		}
		got[strings.SplitN(c.ID, ".", 2)[0]]++
	}
	for g, n := range want {
		if got[g] != n {
			t.Errorf("group %s has %d cases, want %d", g, got[g], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("groups %v, want %v", got, want)
	}
}

// The validity flags were transcribed from Autobahn; the standard library
// must agree with every one, and the family sizes with Autobahn's reports.
func TestUTF8Table(t *testing.T) {
	sizes := []int{5, 11, 4, 2, 4, 3, 5, 8, 5, 10, 1, 3, 5, 5, 5, 7, 8, 34, 7}
	fams := utf8Families()
	if len(fams) != len(sizes) {
		t.Fatalf("%d families, want %d (6.5 to 6.23)", len(fams), len(sizes))
	}
	for i, fam := range fams {
		if len(fam.seqs) != sizes[i] {
			t.Errorf("6.%d %s: %d sequences, want %d", i+5, fam.name, len(fam.seqs), sizes[i])
		}
		for j, seq := range fam.seqs {
			if utf8.ValidString(seq.p) != seq.valid {
				t.Errorf("6.%d.%d % x: valid = %v, unicode/utf8 says otherwise", i+5, j+1, seq.p, seq.valid)
			}
		}
	}
	if !utf8.ValidString(helloUTF8) || !utf8.ValidString(kosme) || !utf8.RuneStart(helloUTF8[15]) {
		t.Error("6.2 payloads are not valid UTF-8, or 6.2.2 splits a code point")
	}
}

func TestSplitWrites(t *testing.T) {
	wire := []byte("aaaabbbbcc")
	ends := []int{4, 8, 10}
	for _, tc := range []struct {
		split, badFrom int
		want           string // each write, '!' where it may fail
	}{
		{oneWrite, -1, "aaaabbbbcc"},
		{oneWrite, 4, "aaaabbbbcc!"},
		{framewise, 4, "aaaa bbbb! cc!"},
		{3, 8, "aaa abb bbc! c!"},
		{octetwise, -1, "a a a a b b b b c c"},
	} {
		var got []string
		for _, w := range splitWrites(wire, ends, tc.split, tc.badFrom) {
			s := string(w.data)
			if w.mayFail {
				s += "!"
			}
			got = append(got, s)
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("split %d badFrom %d: %q, want %q", tc.split, tc.badFrom, g, tc.want)
		}
	}
}

func TestSkipReason(t *testing.T) {
	skip := map[string]string{"6.4": "a", "6.4.3": "b", "7.": "c"}
	for id, want := range map[string]string{"6.4": "a", "6.4.1": "a", "6.4.3": "b", "6.40.1": "", "7.1.1": "c", "6.5.1": ""} {
		got, ok := skipReason(id, skip)
		if got != want || ok != (want != "") {
			t.Errorf("skipReason(%s) = %q, %v; want %q", id, got, ok, want)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "localhost:9001": true,
		"127.1.2.3:80": true, "10.0.0.1:80": false, "example.com:80": false, "127.0.0.1": false} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%s) = %v", addr, err)
		}
	}
}

func TestFrameHelpers(t *testing.T) {
	if f := text("x").withRSV(4); f.rsv != codec.Rsv1 {
		t.Errorf("RSV 4 = %#x, want RSV1", f.rsv)
	}
	if f := text("x").withRSV(1); f.rsv != codec.Rsv3 {
		t.Errorf("RSV 1 = %#x, want RSV3", f.rsv)
	}
	for _, n := range []int{0, 1, 2, 3, 1300, 65536, 1 << 20} {
		p := textOf(n)
		if len(p) != n || !utf8.Valid(p) {
			t.Errorf("textOf(%d): %d bytes, valid %v", n, len(p), utf8.Valid(p))
		}
	}
	frames := fragments(codec.OpText, repeat("*", 2601), 1300)
	if len(frames) != 3 || frames[0].op != codec.OpText || frames[1].op != codec.OpContinuation ||
		frames[0].fin || !frames[2].fin || len(frames[2].payload) != 1 {
		t.Errorf("fragments of 2601 by 1300: %+v", frames)
	}
	if f := fragments(codec.OpBinary, nil, 10); len(f) != 1 || !f[0].fin {
		t.Errorf("fragments of nothing: %+v", f)
	}
}

func TestSplitFrameAndMarkBad(t *testing.T) {
	f := text("abcdefgh")
	parts := splitFrame(f, 3, 2)
	h, n, err := codec.DecodeHeader(parts[0].raw)
	if err != nil || h.Length != 8 || len(parts[0].raw) != n+3 || len(parts[1].raw) != 2 {
		t.Fatalf("splitFrame: %+v %d %v, parts %d and %d bytes", h, n, err, len(parts[0].raw), len(parts[1].raw))
	}
	p := append(append([]byte{}, parts[0].raw[n:]...), parts[1].raw...)
	codec.Mask(h.Mask, 0, p)
	if !bytes.Equal(p, []byte("abcde")) {
		t.Errorf("splitFrame payload %q", p)
	}

	p2 := kosme + "\xed\xa0\x80ed"
	frames := markBad(splitCodePoints(p2), p2)
	for i, f := range frames {
		if f.bad != (i == 5) { // κ ό σ μ ε, then the surrogate's first byte
			t.Errorf("frame %d %q: bad = %v", i, f.payload, f.bad)
		}
	}
	if frames := markBad([]frame{text(kosme)}, kosme); frames[0].bad {
		t.Error("valid text marked bad")
	}
}
