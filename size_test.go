package shoal

import (
	"testing"
	"unsafe"
)

// Every open connection costs one Conn; the idle-memory target of the
// bench (issue 5) rests on its size class. A field added here should be
// paid for by one taken out (see DESIGN.md, "Memory per connection").
func TestConnSizeClass(t *testing.T) {
	const limit = 288 // a Go size class: 289 bytes would cost 320
	if size := unsafe.Sizeof(Conn{}); size > limit {
		t.Fatalf("Conn is %d bytes, over the %d-byte budget", size, limit)
	}
}
