package shoal

import (
	"testing"
	"unsafe"
)

// Every open connection costs one Conn; the idle-memory target of the
// bench (issue 5) rests on its size class. A field added here should be
// paid for by one taken out (see DESIGN.md, "Memory per connection").
func TestConnSizeClass(t *testing.T) {
	const limit = 256 // a Go size class: 257 bytes would cost 288
	if size := unsafe.Sizeof(Conn{}); size > limit {
		t.Fatalf("Conn is %d bytes, over the %d-byte budget", size, limit)
	}
}
