package conformance

import (
	"fmt"
	"strings"

	"github.com/shoalws/shoal/codec"
)

// How sendSplit cuts what a case sends into writes.
const (
	oneWrite  = 0  // everything in one write ("one chop")
	framewise = -1 // a write per frame
	octetwise = 1  // a write per byte
)

// echoes sends the frames of one message, split as asked, and expects that
// message echoed, then closes normally.
func echoes(split int, frames ...frame) func(*session) {
	return func(s *session) {
		s.sendSplit(split, frames)
		s.expectMessage(messageOf(frames))
		s.closeNormally()
	}
}

// messageOf is the message data frames make up: the first frame's type
// and every data frame's payload. Control frames in between are skipped.
func messageOf(frames []frame) (codec.Opcode, []byte) {
	var op codec.Opcode
	var p []byte
	for _, f := range frames {
		if f.op.IsControl() {
			continue
		}
		if op == 0 {
			op = f.op
		}
		p = append(p, f.payload...)
	}
	return op, p
}

// fails sends frames, split as asked, and expects the server to fail the
// connection with code: a close frame with that code, then TCP closed.
func fails(code codec.StatusCode, split int, frames ...frame) func(*session) {
	return func(s *session) {
		s.sendSplit(split, frames)
		s.expectClose(code)
	}
}

// echoThenFails is Autobahn's pattern for a bad frame after a good
// message: a text message, the bad frame, then a ping. The message must be
// echoed, the connection failed with 1002, and the ping, which comes after
// the failure, never answered.
func echoThenFails(split int, badFrame frame) func(*session) {
	return func(s *session) {
		s.sendSplit(split, []frame{text("Hello, world!"), bad(badFrame), ping("Hello, world!")})
		s.expectText([]byte("Hello, world!"))
		s.expectClose(codec.StatusProtocolError)
	}
}

// framingCases are Autobahn 1.1 and 1.2: text and binary messages at each
// length encoding boundary, 7-bit (0, 125), 16-bit (126 to 65535) and
// 64-bit (65536), and one whose bytes arrive in uneven pieces.
func framingCases() []Case {
	lengths := []int{0, 125, 126, 127, 128, 65535, 65536}
	var cs []Case
	for g, kind := range []struct {
		name string
		make func([]byte) frame
		fill string
	}{{"Text", text[[]byte], "*"}, {"Binary", binary[[]byte], "\xfe"}} {
		for i, n := range lengths {
			cs = append(cs, Case{
				ID:   fmt.Sprintf("1.%d.%d", g+1, i+1),
				Desc: fmt.Sprintf("%s message with payload of length %d", kind.name, n),
				run:  echoes(oneWrite, kind.make(repeat(kind.fill, n))),
			})
		}
		cs = append(cs, Case{
			ID:   fmt.Sprintf("1.%d.8", g+1),
			Desc: kind.name + " message with payload of length 65536, sent in chops of 997 octets",
			run:  echoes(997, kind.make(repeat(kind.fill, 65536))),
		})
	}
	return cs
}

// pingCases are Autobahn 2: pings are answered with the same payload
// (RFC 6455 §5.5.2, §5.5.3), unsolicited pongs are ignored, and a control
// frame over 125 bytes fails the connection (§5.5).
func pingCases() []Case {
	const bin8 = "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
	fe125 := strings.Repeat("\xfe", 125)
	return []Case{
		{"2.1", "Ping without payload: pong without payload", func(s *session) {
			s.send(ping(""))
			s.expectPong("")
			s.closeNormally()
		}},
		{"2.2", "Ping with small text payload: pong with the same payload", func(s *session) {
			s.send(ping("Hello, world!"))
			s.expectPong("Hello, world!")
			s.closeNormally()
		}},
		{"2.3", "Ping with small binary (non UTF-8) payload", func(s *session) {
			s.send(ping(bin8))
			s.expectPong(bin8)
			s.closeNormally()
		}},
		{"2.4", "Ping with 125-byte binary payload, the most a control frame holds", func(s *session) {
			s.send(ping(fe125))
			s.expectPong(fe125)
			s.closeNormally()
		}},
		{"2.5", "Ping with 126-byte payload: control frame too long, close 1002",
			fails(codec.StatusProtocolError, oneWrite, bad(ping(fe125+"\xfe")))},
		{"2.6", "Ping with 125-byte payload sent octet-wise", func(s *session) {
			s.sendChunked(1, ping(fe125))
			s.expectPong(fe125)
			s.closeNormally()
		}},
		{"2.7", "Unsolicited pong without payload is ignored", func(s *session) {
			s.send(pong(""))
			s.expectQuiet()
			s.closeNormally()
		}},
		{"2.8", "Unsolicited pong with payload is ignored", func(s *session) {
			s.send(pong("unsolicited pong payload"))
			s.expectQuiet()
			s.closeNormally()
		}},
		{"2.9", "Unsolicited pong, then ping: only the ping is answered", func(s *session) {
			s.send(pong("unsolicited pong payload"), ping("ping payload"))
			s.expectPong("ping payload")
			s.closeNormally()
		}},
		{"2.10", "10 pings in one write: 10 pongs, in order", tenPings(oneWrite)},
		{"2.11", "10 pings sent octet-wise: 10 pongs, in order", tenPings(octetwise)},
	}
}

func tenPings(split int) func(*session) {
	return func(s *session) {
		var pings []frame
		for i := range 10 {
			pings = append(pings, ping(fmt.Sprintf("payload-%d", i)))
		}
		s.sendSplit(split, pings)
		for i := range 10 {
			s.expectPong(fmt.Sprintf("payload-%d", i))
		}
		s.closeNormally()
	}
}

// rsvCases are Autobahn 3: with no extension negotiated every RSV bit
// "MUST be 0" and a receiver "MUST _Fail the WebSocket Connection_"
// otherwise (RFC 6455 §5.2). RSV n sets the bits RSV1 RSV2 RSV3 to n.
func rsvCases() []Case {
	fail := func(f frame) func(*session) { return fails(codec.StatusProtocolError, oneWrite, bad(f)) }
	return []Case{
		{"3.1", "Text message with RSV = 1: close 1002", fail(text("Hello, world!").withRSV(1))},
		{"3.2", "Text, then text with RSV = 2, then ping: echo, close 1002, no pong",
			echoThenFails(oneWrite, text("Hello, world!").withRSV(2))},
		{"3.3", "Text, then text with RSV = 3, then ping, sent frame-wise",
			echoThenFails(framewise, text("Hello, world!").withRSV(3))},
		{"3.4", "Text, then text with RSV = 4, then ping, sent octet-wise",
			echoThenFails(octetwise, text("Hello, world!").withRSV(4))},
		{"3.5", "Binary message with RSV = 5: close 1002",
			fail(binary("\x00\xff\xfe\xfd\xfc\xfb\x00\xff").withRSV(5))},
		{"3.6", "Ping with RSV = 6: close 1002", fail(ping("Hello, world!").withRSV(6))},
		{"3.7", "Close with RSV = 7: close 1002", fail(closeFrame(1000, "").withRSV(7))},
	}
}

// opcodeCases are Autobahn 4: "If an unknown opcode is received, the
// receiving endpoint MUST _Fail the WebSocket Connection_" (RFC 6455
// §5.2). 3-7 are reserved data opcodes, 11-15 reserved control opcodes.
func opcodeCases() []Case {
	const pl = "reserved opcode payload"
	fail := func(f frame) func(*session) { return fails(codec.StatusProtocolError, oneWrite, bad(f)) }
	return []Case{
		{"4.1.1", "Frame with reserved non-control opcode 3: close 1002", fail(opcode(3, ""))},
		{"4.1.2", "Frame with reserved non-control opcode 4 and payload", fail(opcode(4, pl))},
		{"4.1.3", "Text, then reserved opcode 5, then ping: echo, close 1002, no pong",
			echoThenFails(oneWrite, opcode(5, ""))},
		{"4.1.4", "Text, then reserved opcode 6 with payload, then ping",
			echoThenFails(oneWrite, opcode(6, pl))},
		{"4.1.5", "Text, then reserved opcode 7 with payload, then ping",
			echoThenFails(oneWrite, opcode(7, pl))},
		{"4.2.1", "Frame with reserved control opcode 11: close 1002", fail(opcode(11, ""))},
		{"4.2.2", "Frame with reserved control opcode 12 and payload", fail(opcode(12, pl))},
		{"4.2.3", "Text, then reserved opcode 13, then ping: echo, close 1002, no pong",
			echoThenFails(oneWrite, opcode(13, ""))},
		{"4.2.4", "Text, then reserved opcode 14 with payload, then ping",
			echoThenFails(oneWrite, opcode(14, pl))},
		{"4.2.5", "Text, then reserved opcode 15 with payload, then ping",
			echoThenFails(oneWrite, opcode(15, pl))},
	}
}
