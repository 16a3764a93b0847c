package codec

import "encoding/binary"

// UTF8Validator checks that a byte stream is UTF-8 while it arrives in
// pieces: a code point may be split across frames and reads anywhere. It
// fails as soon as a byte makes the stream invalid, so a text message can
// be rejected with 1007 before its end arrives (RFC 6455 §8.1). Overlong
// forms, surrogates (U+D800-U+DFFF) and code points above U+10FFFF are
// invalid, as in unicode/utf8. The zero value is ready for a new stream.
type UTF8Validator struct {
	need    uint8 // continuation bytes still expected in this code point
	lo      uint8 // smallest byte allowed next, when need > 0
	hi      uint8 // largest byte allowed next, when need > 0
	invalid bool  // an invalid byte was seen; sticky until Reset
}

// utf8Lead describes each possible first byte: the number of continuation
// bytes that follow (high nibble) and which range the first of them must
// fall in (low nibble, an index into utf8Ranges; 0 is the plain 80-BF).
// ASCII is 0, utf8Bad a byte that can never start a code point.
var utf8Lead = func() (t [256]uint8) {
	for c := 0x80; c < 0x100; c++ {
		t[c] = utf8Bad
	}
	for c := 0xC2; c <= 0xDF; c++ {
		t[c] = 1 << 4
	}
	for c := 0xE1; c <= 0xEF; c++ {
		t[c] = 2 << 4
	}
	t[0xE0] = 2<<4 | 1 // no overlong 3-byte forms
	t[0xED] = 2<<4 | 2 // no surrogates
	for c := 0xF1; c <= 0xF3; c++ {
		t[c] = 3 << 4
	}
	t[0xF0] = 3<<4 | 3 // no overlong 4-byte forms
	t[0xF4] = 3<<4 | 4 // nothing above U+10FFFF
	return t
}()

const utf8Bad = 0xFF

var utf8Ranges = [5][2]uint8{
	{0x80, 0xBF},
	{0xA0, 0xBF},
	{0x80, 0x9F},
	{0x90, 0xBF},
	{0x80, 0x8F},
}

// Write feeds the next bytes of the stream and reports whether the stream
// is still valid UTF-8 or a prefix of it. Once it returns false it keeps
// returning false until Reset.
func (v *UTF8Validator) Write(p []byte) bool {
	if v.invalid {
		return false
	}
	need, lo, hi := v.need, v.lo, v.hi
	i := 0
	for i < len(p) {
		if need > 0 {
			c := p[i]
			if c < lo || c > hi {
				v.invalid = true
				return false
			}
			i++
			need--
			lo, hi = 0x80, 0xBF
			continue
		}
		// Between code points: skip ASCII a word at a time.
		for i+8 <= len(p) && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		for i < len(p) && p[i] < 0x80 {
			i++
		}
		if i == len(p) {
			break
		}
		lead := utf8Lead[p[i]]
		if lead == utf8Bad {
			v.invalid = true
			return false
		}
		i++
		need = lead >> 4
		r := utf8Ranges[lead&0x0F]
		lo, hi = r[0], r[1]
	}
	v.need, v.lo, v.hi = need, lo, hi
	return true
}

// Complete reports whether everything written so far is valid UTF-8 that
// ends on a code point boundary: the check to make at the end of a text
// message or close reason.
func (v *UTF8Validator) Complete() bool { return !v.invalid && v.need == 0 }

// Reset readies v for a new stream.
func (v *UTF8Validator) Reset() { *v = UTF8Validator{} }
