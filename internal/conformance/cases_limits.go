package conformance

import (
	"fmt"

	"github.com/shoalws/shoal/codec"
)

// maxServerMessage is the largest message the echo server under test
// takes: 16 MiB. Exactly that much must pass; one byte more is a 1009.
const maxServerMessage = 16 << 20

// kind is a message type the group 9 cases try in turn.
type kind struct {
	name string
	op   codec.Opcode
	make func(n int, seed uint64) []byte
}

var kinds = []kind{
	{"text", codec.OpText, func(n int, _ uint64) []byte { return textOf(n) }},
	{"binary", codec.OpBinary, binaryOf},
}

// sizeName is "64 KiB", "16 MiB", "1000 bytes".
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limitCases are Autobahn 9: large messages, many frames, small writes
// and many messages. Sizes are Autobahn's, up to the server's 16 MiB
// limit: nothing is scaled down. Payloads are generated (multi-byte text,
// pseudo-random binary) rather than Autobahn's repeated bytes, so that a
// server that loses or reorders data cannot echo the right bytes by luck.
func limitCases() []Case {
	var cs []Case
	for k, kd := range kinds {
		for i, n := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20} {
			cs = append(cs, Case{
				ID:   fmt.Sprintf("9.%d.%d", k+1, i+1),
				Desc: fmt.Sprintf("One %s message of %s in one frame", kd.name, sizeName(n)),
				run:  bigEcho(kd, n, n, oneWrite),
			})
		}
	}
	for k, kd := range kinds {
		for i, f := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			cs = append(cs, Case{
				ID:   fmt.Sprintf("9.%d.%d", k+3, i+1),
				Desc: fmt.Sprintf("One %s message of 4 MiB in frames of %s", kd.name, sizeName(f)),
				run:  bigEcho(kd, 4<<20, f, oneWrite),
			})
		}
	}
	for k, kd := range kinds {
		for i, c := range []int{64, 128, 256, 512, 1024, 2048} {
			cs = append(cs, Case{
				ID:   fmt.Sprintf("9.%d.%d", k+5, i+1),
				Desc: fmt.Sprintf("One %s message of 1 MiB in one frame, sent in chops of %d octets", kd.name, c),
				run:  bigEcho(kd, 1<<20, 1<<20, c),
			})
		}
	}
	for k, kd := range kinds {
		for i, n := range []int{0, 16, 64, 256, 1024, 4096} {
			cs = append(cs, Case{
				ID:   fmt.Sprintf("9.%d.%d", k+7, i+1),
				Desc: fmt.Sprintf("1000 %s messages of %s in a row: all echoed, in order", kd.name, sizeName(n)),
				run:  manyEchoes(kd, 1000, n),
			})
		}
	}
	return cs
}

// bigEcho sends one message of size bytes in frames of frameSize bytes,
// split into writes as asked, and expects it echoed. The payload is made
// when the case runs, not when the case list is built.
func bigEcho(kd kind, size, frameSize, split int) func(*session) {
	run := func(s *session) {
		p := kd.make(size, uint64(size))
		s.sendSplit(split, fragments(kd.op, p, frameSize))
		s.expectMessage(kd.op, p)
		s.closeNormally()
	}
	if size >= 4<<20 {
		return slow(run)
	}
	return run
}

// manyEchoes sends count messages back to back, each a write of its own,
// and expects every echo in order. Autobahn 9.7 waits for each echo before
// sending the next; sending them all at once also checks that a server
// keeps the order of what it has queued. Each message starts with its
// number, where there is room, so a reordering shows.
func manyEchoes(kd kind, count, size int) func(*session) {
	return func(s *session) {
		msgs := make([][]byte, count)
		frames := make([]frame, count)
		for i := range msgs {
			p := kd.make(size, uint64(i))
			if size >= 8 {
				copy(p, fmt.Sprintf("%08d", i))
			}
			msgs[i] = p
			frames[i] = dataFrame(kd.op, true, p)
		}
		s.sendFramewise(frames...)
		for _, p := range msgs {
			s.expectMessage(kd.op, p)
		}
		s.closeNormally()
	}
}

// autoFragmentCases are Autobahn 10: a message in many small frames.
func autoFragmentCases() []Case {
	return []Case{
		{"10.1.1", "Text message of 65536 bytes in frames of 1300 bytes", func(s *session) {
			p := repeat("*", 65536)
			s.send(fragments(codec.OpText, p, 1300)...)
			s.expectText(p)
			s.closeNormally()
		}},
	}
}

// extraCases go beyond Autobahn: lengths no frame can have and the
// server's message size limit, which "MUST" fail with 1009 when "a message
// that is too big for it to process" arrives (RFC 6455 §7.4.1), and an
// unmasked client frame.
func extraCases() []Case {
	tooBig := codec.StatusTooBig
	return []Case{
		{"x.1", "Frame header announcing 2^63-1 bytes: close 1009 from the header alone",
			fails(tooBig, oneWrite, bad(rawFrame(1<<63-1, "abcd")))},
		{"x.2", "Frame header whose 64-bit length has the top bit set: close 1002",
			fails(codec.StatusProtocolError, oneWrite, bad(rawFrame(1<<63|5, "abcde")))},
		{"x.3", "Text message of 16 MiB + 1 byte in one frame: close 1009", slow(func(s *session) {
			s.send(bad(text(textOf(maxServerMessage + 1))))
			s.expectClose(tooBig)
		})},
		{"x.4", "Binary message of 16 MiB in frames of 1 MiB, then one more byte: close 1009",
			slow(func(s *session) {
				frames := fragments(codec.OpBinary, binaryOf(maxServerMessage, 1), 1<<20)
				frames[len(frames)-1].fin = false
				s.send(append(frames, bad(contFin("!")))...)
				s.expectClose(tooBig)
			})},
		{"x.5", "Unmasked text frame from the client: close 1002 (RFC 6455 §5.1)", func(s *session) {
			f := text("Hello, world!")
			f.unmasked = true
			s.send(bad(f))
			s.expectClose(codec.StatusProtocolError)
		}},
		{"x.6", "Text message of exactly 16 MiB in frames of 64 KiB, the server's limit", slow(func(s *session) {
			p := textOf(maxServerMessage)
			s.send(fragments(codec.OpText, p, 64<<10)...)
			s.expectText(p)
			s.closeNormally()
		})},
	}
}
