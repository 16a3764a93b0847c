package conformance

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/shoalws/shoal/codec"
)

// Payloads Autobahn 6 uses again and again.
const (
	helloUTF8 = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!" // Hello-µ@ßöäüàá-UTF-8!!
	kosme     = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"                            // κόσμε
)

// utf8Cases are Autobahn 6: a text message "MUST" be UTF-8 (RFC 6455
// §5.6), checked across fragments, and "When an endpoint is to interpret a
// byte stream as UTF-8 but finds that the byte stream is not, in fact, a
// valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_"
// (§8.1) with 1007 (§7.4.1).
func utf8Cases() []Case {
	invalid := kosme + "\xed\xa0\x80edited" // a surrogate, U+D800, in the middle
	cs := []Case{
		{"6.1.1", "Text message of length 0", echoes(oneWrite, text(""))},
		{"6.1.2", "Text message in 3 fragments, each of length 0",
			echoes(oneWrite, textStart(""), cont(""), contFin(""))},
		{"6.1.3", "Text message in 3 fragments, the first and last of length 0",
			echoes(oneWrite, textStart(""), cont("middle frame payload"), contFin(""))},

		{"6.2.1", "Valid UTF-8 text (Hello-µ@ßöäüàá-UTF-8!!) in one frame", echoes(oneWrite, text(helloUTF8))},
		{"6.2.2", "Same text in 2 fragments split at a code point boundary", echoes(oneWrite,
			textStart(helloUTF8[:15]), contFin(helloUTF8[15:]))},
		{"6.2.3", "Same text in fragments of 1 octet, splitting code points",
			echoes(oneWrite, fragments(codec.OpText, []byte(helloUTF8), 1)...)},
		{"6.2.4", "κόσμε in fragments of 1 octet, splitting code points",
			echoes(oneWrite, fragments(codec.OpText, []byte(kosme), 1)...)},

		{"6.3.1", "Invalid UTF-8 text (a surrogate) in one frame: close 1007",
			fails(codec.StatusInvalidData, oneWrite, bad(text(invalid)))},
		{"6.3.2", "Same invalid text in fragments of 1 octet: close 1007",
			fails(codec.StatusInvalidData, oneWrite, markBad(fragments(codec.OpText, []byte(invalid), 1), invalid)...)},
	}
	cs = append(cs, failFastCases()...)
	for i, fam := range utf8Families() {
		for j, seq := range fam.seqs {
			validity := "invalid"
			if seq.valid {
				validity = "valid"
			}
			cs = append(cs, Case{
				ID:   fmt.Sprintf("6.%d.%d", i+5, j+1),
				Desc: fmt.Sprintf("%s: %s UTF-8 % x, in one frame, per code point and octet-wise", fam.name, validity, seq.p),
				run:  utf8Variants(seq),
			})
		}
	}
	return cs
}

// failFastCases are Autobahn 6.4: the message becomes invalid in its
// second part and the server must fail at once, "as soon as" the invalid
// bytes arrive, not at the end of the message or frame. Autobahn sends the
// rest a second later; these never send it at all, so a server that waits
// for the message (or frame) to end times out instead of passing.
func failFastCases() []Case {
	const (
		p1, p2, p3 = kosme, "\xf4\x90\x80\x80", "edited" // F4 90 is above U+10FFFF
		q1, q2     = kosme + "\xf4", "\x90"              // fails on the exact octet
	)
	fast := codec.StatusInvalidData
	return []Case{
		{"6.4.1", "Invalid text in 3 fragments, the 2nd makes it invalid: close 1007 before the 3rd is sent",
			func(s *session) {
				s.send(textStart(p1))
				s.send(bad(cont(p2)))
				s.expectClose(fast)
			}},
		{"6.4.2", "Same as 6.4.1, the 2nd fragment holding just the octet that makes it invalid",
			func(s *session) {
				s.send(textStart(q1))
				s.send(bad(cont(q2)))
				s.expectClose(fast)
			}},
		{"6.4.3", "Invalid text in one frame sent in 3 chops: close 1007 before the frame is complete",
			func(s *session) {
				parts := splitFrame(text(p1+p2+p3), len(p1), len(p2))
				s.send(parts[0])
				s.send(bad(parts[1]))
				s.expectClose(fast)
			}},
		{"6.4.4", "Same as 6.4.3, the 2nd chop holding just the octet that makes it invalid",
			func(s *session) {
				parts := splitFrame(text(q1+q2+"\x80\x80edited"), len(q1), len(q2))
				s.send(parts[0])
				s.send(bad(parts[1]))
				s.expectClose(fast)
			}},
	}
}

// splitFrame masks f and cuts it into raw pieces: the header with the
// first sizes[0] payload bytes, then the next sizes[1] bytes, and so on.
// Payload bytes past the sizes are left out: the frame never completes.
func splitFrame(f frame, sizes ...int) []frame {
	wire := appendWire(nil, f, maskKeys(1)[0])
	at := len(wire) - len(f.payload)
	var parts []frame
	for i, n := range sizes {
		start := at
		if i == 0 {
			start = 0
		}
		parts = append(parts, frame{raw: wire[start : at+n], op: f.op})
		at += n
	}
	return parts
}

// utf8Variants sends seq as one frame, as one frame per code point, and
// as one frame octet-wise, each on a connection of its own. Valid text is
// echoed; invalid text fails the connection with 1007.
func utf8Variants(seq utf8Seq) func(*session) {
	return func(s *session) {
		perCodePoint := markBad(splitCodePoints(seq.p), seq.p)
		one := markBad([]frame{text(seq.p)}, seq.p)
		s.variant("one frame", func(s *session) { utf8Expect(s, seq, oneWrite, one) })
		s.variant("per code point", func(s *session) { utf8Expect(s, seq, oneWrite, perCodePoint) })
		s.variant("octet-wise", func(s *session) { utf8Expect(s, seq, octetwise, one) })
	}
}

func utf8Expect(s *session, seq utf8Seq, split int, frames []frame) {
	s.sendSplit(split, frames)
	if seq.valid {
		s.expectText([]byte(seq.p))
		s.closeNormally()
		return
	}
	s.expectClose(codec.StatusInvalidData)
}

// splitCodePoints makes a text message with a frame per code point; an
// invalid byte is a frame of its own.
func splitCodePoints(p string) []frame {
	var sizes []int
	for i := 0; i < len(p); {
		_, n := utf8.DecodeRuneInString(p[i:])
		sizes = append(sizes, n)
		i += n
	}
	frames := make([]frame, 0, len(sizes))
	for i, n := range sizes {
		f := dataFrame(codec.OpContinuation, i == len(sizes)-1, p[:n])
		if i == 0 {
			f.op = codec.OpText
		}
		frames = append(frames, f)
		p = p[n:]
	}
	return frames
}

// markBad marks as bad the first of frames that carries an invalid byte
// of message p, so that the connection may be gone from then on. Valid p
// marks nothing. It uses the standard library, not the codec under test.
func markBad(frames []frame, p string) []frame {
	if utf8.ValidString(p) {
		return frames
	}
	at := 0
	for at < len(p) {
		r, n := utf8.DecodeRuneInString(p[at:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		at += n
	}
	for i := range frames {
		if at < len(frames[i].payload) {
			frames[i].bad = true
			break
		}
		at -= len(frames[i].payload)
	}
	return frames
}

type utf8Family struct {
	name string
	seqs []utf8Seq
}

// utf8Seq is a payload and whether Autobahn counts it as valid UTF-8.
type utf8Seq struct {
	valid bool
	p     string
}

func valid(ps ...string) []utf8Seq   { return seqs(true, ps) }
func invalid(ps ...string) []utf8Seq { return seqs(false, ps) }

func seqs(ok bool, ps []string) []utf8Seq {
	out := make([]utf8Seq, len(ps))
	for i, p := range ps {
		out[i] = utf8Seq{ok, p}
	}
	return out
}

// utf8Families are Autobahn 6.5 to 6.23, in order, taken from its
// createUtf8TestSequences, itself after Markus Kuhn's UTF-8-test.txt.
func utf8Families() []utf8Family {
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	return []utf8Family{
		{"Some valid UTF-8 sequences", valid("hello\x24world", "hello\xc2\xa2world",
			"hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", kosme)},
		{"All prefixes of κόσμε", prefixes(kosme)},
		{"First possible sequence of a certain length", valid("\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80")},
		{"First possible sequence length 5/6 (invalid code points)",
			invalid("\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80")},
		{"Last possible sequence of a certain length", valid("\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf")},
		{"Last possible sequence length 4/5/6 (invalid code points)",
			invalid("\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf")},
		{"Other boundary conditions", append(valid("\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"),
			invalid("\xf4\x90\x80\x80")...)},
		{"Unexpected continuation bytes", invalid("\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80",
			"\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", byteRange(0x80, 0xbf, ""))},
		{"Lonely start characters", invalid(byteRange(0xc0, 0xdf, " "), byteRange(0xe0, 0xef, " "),
			byteRange(0xf0, 0xf7, " "), byteRange(0xf8, 0xfb, " "), byteRange(0xfc, 0xfd, " "))},
		{"Sequences with last continuation byte missing", invalid(missing...)},
		{"Concatenation of incomplete sequences", invalid(strings.Join(missing, ""))},
		{"Impossible bytes", invalid("\xfe", "\xff", "\xfe\xfe\xff\xff")},
		{"Examples of an overlong ASCII character", invalid("\xc0\xaf", "\xe0\x80\xaf",
			"\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf")},
		{"Maximum overlong sequences", invalid("\xc1\xbf", "\xe0\x9f\xbf",
			"\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf")},
		{"Overlong representation of the NUL character", invalid("\xc0\x80", "\xe0\x80\x80",
			"\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80")},
		{"Single UTF-16 surrogates", invalid("\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80",
			"\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf")},
		{"Paired UTF-16 surrogates", invalid("\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf",
			"\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf", "\xed\xae\x80\xed\xb0\x80",
			"\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf")},
		{"Non-character code points (valid UTF-8)", nonCharacters()},
		{"Unicode specials (i.e. replacement char)", valid("\xef\xbf\xb9", "\xef\xbf\xba",
			"\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf")},
	}
}

// prefixes are the prefixes of p, valid where they end on a code point
// boundary: a text message cut inside a code point is invalid.
func prefixes(p string) []utf8Seq {
	var out []utf8Seq
	for i := 1; i <= len(p); i++ {
		out = append(out, utf8Seq{i == len(p) || utf8.RuneStart(p[i]), p[:i]})
	}
	return out
}

// byteRange is the bytes from lo up to but not including hi, each followed
// by sep (Python's xrange, as Autobahn builds these).
func byteRange(lo, hi byte, sep string) string {
	var b strings.Builder
	for c := lo; c < hi; c++ {
		b.WriteByte(c)
		b.WriteString(sep)
	}
	return b.String()
}

// nonCharacters are U+FFFE, U+FFFF and the last two code points of planes
// 1 to 16: "non-characters", which RFC 3629 still encodes as valid UTF-8.
func nonCharacters() []utf8Seq {
	out := valid("\xef\xbf\xbe", "\xef\xbf\xbf")
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // above U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				if z1 == 0xf0 && z2 == 0x8f {
					continue // overlong
				}
				out = append(out, utf8Seq{true, string([]byte{z1, z2, 0xbf, z3})})
			}
		}
	}
	return out
}
