package tlsio

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// A tls.Conn keeps the buffers it read into: rawInput, sized to the
// largest record it has read (up to 17 KiB, doubled by bytes.Buffer's
// growth), and hand, sized to the ClientHello. On an idle connection
// they are empty but still allocated: measured here, 3.6 KiB of a
// server tls.Conn's 7.6 KiB after the handshake, and 13.8 KiB of heap
// after one 16 KiB message instead of 4 KiB. crypto/tls has no call to
// let them go, so Trim drops them through their fields, found by name
// and type when the package loads. If a Go release renames or retypes
// them, Trim does nothing (Trimmable reports false, which a test
// catches) and idle connections cost what crypto/tls keeps.
var trimFields = findTrimFields()

type fieldOffsets struct {
	ok       bool
	rawInput uintptr // bytes.Buffer: raw records, starting with a header
	input    uintptr // bytes.Reader: plaintext of the current record, aliasing rawInput
	hand     uintptr // bytes.Buffer: handshake messages
}

func findTrimFields() fieldOffsets {
	t := reflect.TypeFor[tls.Conn]()
	offset := func(name string, want reflect.Type) (uintptr, bool) {
		f, ok := t.FieldByName(name)
		if !ok || f.Type != want || len(f.Index) != 1 {
			return 0, false
		}
		return f.Offset, true
	}
	buffer, reader := reflect.TypeFor[bytes.Buffer](), reflect.TypeFor[bytes.Reader]()
	var o fieldOffsets
	var ok1, ok2, ok3 bool
	o.rawInput, ok1 = offset("rawInput", buffer)
	o.input, ok2 = offset("input", reader)
	o.hand, ok3 = offset("hand", buffer)
	o.ok = ok1 && ok2 && ok3
	return o
}

// Trimmable reports whether Trim can release buffers with this Go
// release's crypto/tls.
func Trimmable() bool { return trimFields.ok }

// Trim releases the read buffers c keeps while they hold nothing: no
// partial record, no unread plaintext, no partial handshake message. It
// reports whether c now holds no read buffer. No other goroutine may be
// using c: Trim is for the shard that owns it, between its calls.
func Trim(c *tls.Conn) bool {
	if !trimFields.ok {
		return false
	}
	p := unsafe.Pointer(c)
	raw := (*bytes.Buffer)(unsafe.Add(p, trimFields.rawInput))
	input := (*bytes.Reader)(unsafe.Add(p, trimFields.input))
	hand := (*bytes.Buffer)(unsafe.Add(p, trimFields.hand))
	if raw.Len() != 0 || input.Len() != 0 || hand.Len() != 0 {
		return false
	}
	// input's exhausted slice still points into rawInput's array.
	input.Reset(nil)
	*raw = bytes.Buffer{}
	*hand = bytes.Buffer{}
	return true
}
