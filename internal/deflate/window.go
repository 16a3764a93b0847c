package deflate

// Window is the context of a direction that takes over its context (RFC
// 7692 §7.1.1): the last bytes of its uncompressed stream, as many as its
// LZ77 window holds. The compressor starts each message with them as its
// dictionary, and the inflater on the other end does the same. It is the
// only memory such a direction keeps between messages.
type Window struct {
	b    []byte
	size int
}

// NewWindow returns an empty window of 1<<bits bytes. Its buffer is
// allocated by the first Write.
func NewWindow(bits uint8) *Window { return &Window{size: 1 << bitsOr15(bits)} }

// Size is the most bytes the window keeps.
func (w *Window) Size() int { return w.size }

// Bytes returns the window's bytes, oldest first; valid until the next
// Write.
func (w *Window) Bytes() []byte { return w.b }

// Write appends the uncompressed bytes of a message that went through the
// compressor, keeping the last Size of everything written.
func (w *Window) Write(p []byte) {
	if w.b == nil {
		w.b = make([]byte, 0, w.size)
	}
	if len(p) >= w.size {
		w.b = append(w.b[:0], p[len(p)-w.size:]...)
		return
	}
	if over := len(w.b) + len(p) - w.size; over > 0 {
		n := copy(w.b, w.b[over:])
		w.b = w.b[:n]
	}
	w.b = append(w.b, p...)
}
