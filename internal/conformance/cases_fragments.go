package conformance

import "github.com/shoalws/shoal/codec"

// fragmentCases are Autobahn 5: fragmentation (RFC 6455 §5.4). Control
// frames "MUST NOT be fragmented" but "MAY be injected in the middle of a
// fragmented message"; a continuation needs an open message and a new
// message needs the previous one finished, or the connection fails with
// 1002.
func fragmentCases() []Case {
	protoErr := codec.StatusProtocolError
	return []Case{
		{"5.1", "Ping in 2 fragments: close 1002", fails(protoErr, oneWrite,
			bad(ping("fragment1").notFin()), contFin("fragment2"))},
		{"5.2", "Pong in 2 fragments: close 1002", fails(protoErr, oneWrite,
			bad(pong("fragment1").notFin()), contFin("fragment2"))},

		{"5.3", "Text message in 2 fragments", echoes(oneWrite,
			textStart("fragment1"), contFin("fragment2"))},
		{"5.4", "Text message in 2 fragments, sent frame-wise", echoes(framewise,
			textStart("fragment1"), contFin("fragment2"))},
		{"5.5", "Text message in 2 fragments, sent octet-wise", echoes(octetwise,
			textStart("fragment1"), contFin("fragment2"))},

		{"5.6", "Text in 2 fragments with a ping between: pong, then the echo", pingInside(oneWrite)},
		{"5.7", "Same as 5.6, sent frame-wise", pingInside(framewise)},
		{"5.8", "Same as 5.6, sent octet-wise", pingInside(octetwise)},

		{"5.9", "Continuation (FIN = 0) with no message to continue, then text: close 1002",
			fails(protoErr, oneWrite, bad(cont("non-continuation payload")), text("Hello, world!"))},
		{"5.10", "Same as 5.9, sent frame-wise",
			fails(protoErr, framewise, bad(cont("non-continuation payload")), text("Hello, world!"))},
		{"5.11", "Same as 5.9, sent octet-wise",
			fails(protoErr, octetwise, bad(cont("non-continuation payload")), text("Hello, world!"))},
		{"5.12", "Continuation (FIN = 1) with no message to continue, then text: close 1002",
			fails(protoErr, oneWrite, bad(contFin("non-continuation payload")), text("Hello, world!"))},
		{"5.13", "Same as 5.12, sent frame-wise",
			fails(protoErr, framewise, bad(contFin("non-continuation payload")), text("Hello, world!"))},
		{"5.14", "Same as 5.12, sent octet-wise",
			fails(protoErr, octetwise, bad(contFin("non-continuation payload")), text("Hello, world!"))},

		{"5.15", "Text in 2 fragments, then a continuation with nothing to continue: echo, close 1002",
			func(s *session) {
				s.send(textStart("fragment1"), contFin("fragment2"),
					bad(cont("fragment3")), text("fragment4"))
				s.expectText([]byte("fragment1fragment2"))
				s.expectClose(protoErr)
			}},
		{"5.16", "Twice: continuation (FIN = 0) with nothing to continue, then text in 2 fragments: close 1002",
			fails(protoErr, oneWrite,
				bad(cont("fragment1")), textStart("fragment2"), contFin("fragment3"),
				cont("fragment1"), textStart("fragment2"), contFin("fragment3"))},
		{"5.17", "Twice: continuation (FIN = 1) with nothing to continue, then text in 2 fragments: close 1002",
			fails(protoErr, oneWrite,
				bad(contFin("fragment1")), textStart("fragment2"), contFin("fragment3"),
				contFin("fragment1"), textStart("fragment2"), contFin("fragment3"))},
		{"5.18", "Text in 2 fragments, both with opcode text: close 1002",
			fails(protoErr, oneWrite, textStart("fragment1"), bad(text("fragment2")))},

		{"5.19", "Text in 5 fragments with 2 pings inside, the first answered before the message ends",
			pingsInside(oneWrite)},
		{"5.20", "Same as 5.19, sent frame-wise", pingsInside(framewise)},
	}
}

// pingInside sends a ping between two fragments: the ping is answered
// before the message completes, and the message is echoed whole.
func pingInside(split int) func(*session) {
	return func(s *session) {
		s.sendSplit(split, []frame{textStart("fragment1"), ping("ping payload"), contFin("fragment2")})
		s.expectPong("ping payload")
		s.expectText([]byte("fragment1fragment2"))
		s.closeNormally()
	}
}

// pingsInside is Autobahn 5.19: where Autobahn waits a second after the
// first ping, this waits for its pong, which proves the server answers
// control frames while a message is still open, without a sleep.
func pingsInside(split int) func(*session) {
	return func(s *session) {
		s.sendSplit(split, []frame{textStart("fragment1"), cont("fragment2"), ping("pongme 1!")})
		s.expectPong("pongme 1!")
		s.sendSplit(split, []frame{cont("fragment3"), cont("fragment4"), ping("pongme 2!"), contFin("fragment5")})
		s.expectPong("pongme 2!")
		s.expectText([]byte("fragment1fragment2fragment3fragment4fragment5"))
		s.closeNormally()
	}
}
