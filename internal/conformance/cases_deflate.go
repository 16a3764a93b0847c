package conformance

import (
	"fmt"

	"github.com/shoalws/shoal/codec"
)

// The permessage-deflate cases (RFC 7692) stand where Autobahn's groups
// 12 (compressed payloads) and 13 (negotiation parameters) stand, under
// their numbers but with a layout of their own. A server under test that
// does not negotiate permessage-deflate fails them; Options.Skip names
// the reason, as for any other case.

// chromeOffer is what browsers offer: "permessage-deflate;
// client_max_window_bits".
var chromeOffer = codec.DeflateParams{ClientMaxWindowBits: codec.MaxWindowBits}

// deflateSizes are the message sizes each compression case tries.
var deflateSizes = []int{16, 64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10}

func deflateCases() []Case {
	return append(payloadCases(), paramCases()...)
}

// payloadCases are group 12: messages of every size and kind compressed
// by the client, whole and fragmented, and the frames a server must
// refuse on a compressed connection.
func payloadCases() []Case {
	var cs []Case
	for k, kd := range kinds {
		for i, n := range deflateSizes {
			// Fewer of the large ones: under -race, compressing and
			// inflating random megabytes takes seconds.
			count := 10
			if n >= 64<<10 {
				count = 3
			}
			run := deflateEchoes(chromeOffer, kd, n, count, 0)
			if n >= 256<<10 {
				run = slow(run)
			}
			cs = append(cs, Case{
				ID:   fmt.Sprintf("12.%d.%d", k+1, i+1),
				Desc: fmt.Sprintf("%d compressed %s messages of %s, context taken over: echoed", count, kd.name, sizeName(n)),
				run:  run,
			})
		}
	}
	for k, kd := range kinds {
		for i, n := range deflateSizes[2:] {
			run := deflateEchoes(chromeOffer, kd, n, 3, 4)
			if n >= 256<<10 {
				run = slow(run)
			}
			cs = append(cs, Case{
				ID:   fmt.Sprintf("12.%d.%d", k+3, i+1),
				Desc: fmt.Sprintf("3 compressed %s messages of %s, each in frames of a quarter of its payload", kd.name, sizeName(n)),
				run:  run,
			})
		}
	}
	cs = append(cs,
		Case{"12.5.1", "Compressed and plain messages in turn, context taken over across them", mixedCompression},
		Case{"12.5.2", "Compressed text in 3 fragments with a ping between: pong, then the echo", func(s *session) {
			s.offer = &chromeOffer
			p := textOf(3000)
			frames := s.compressed(codec.OpText, p, len(s.pmdPayloadSize(codec.OpText, p))/3+1)
			s.send(append(frames[:2:2], append([]frame{ping("between")}, frames[2:]...)...)...)
			s.expectPong("between")
			s.expectText(textOf(3000))
			s.closeNormally()
		}},
		Case{"12.5.3", "RSV1 on a continuation frame: close 1002 (RFC 7692 §6.1)", func(s *session) {
			s.offer = &chromeOffer
			p := textOf(3000)
			frames := s.compressed(codec.OpText, p, len(s.pmdPayloadSize(codec.OpText, p))/3+1)
			frames[1].rsv = codec.Rsv1
			frames[1] = bad(frames[1])
			s.send(frames...)
			s.expectClose(codec.StatusProtocolError)
		}},
		Case{"12.5.4", "RSV1 on a ping: close 1002 (RFC 7692 §6.1)", func(s *session) {
			s.offer = &chromeOffer
			s.dial()
			s.send(bad(ping("compressed?").withRSV(4)))
			s.expectClose(codec.StatusProtocolError)
		}},
		Case{"12.5.5", "RSV1 without permessage-deflate negotiated: close 1002", func(s *session) {
			s.send(bad(text("\xf2\x48\xcd\xc9\xc9\x07\x00").withRSV(4)))
			s.expectClose(codec.StatusProtocolError)
		}},
		Case{"12.5.6", "RSV2 on a compressed connection: close 1002", func(s *session) {
			s.offer = &chromeOffer
			s.dial()
			s.send(bad(text("Hello").withRSV(2)))
			s.expectClose(codec.StatusProtocolError)
		}},
		Case{"12.5.7", "A compressed message that is not DEFLATE data: close 1007", func(s *session) {
			s.offer = &chromeOffer
			s.dial()
			s.send(bad(binary("\xff\xff\xff\xff\xff\xff\xff\xff").withRSV(4)))
			s.expectClose(codec.StatusInvalidData)
		}},
		Case{"12.5.8", "Compressed text that inflates to invalid UTF-8: close 1007", func(s *session) {
			s.offer = &chromeOffer
			frames := s.compressed(codec.OpText, []byte("Hello \xed\xa0\x80 world"), 1<<20)
			s.send(bad(frames[0]))
			s.expectClose(codec.StatusInvalidData)
		}},
		Case{"12.5.9", "A 17 KiB message inflating past the server's 16 MiB limit: close 1009", slow(func(s *session) {
			s.offer = &chromeOffer
			frames := s.compressed(codec.OpBinary, make([]byte, maxServerMessage+1), 1<<20)
			frames[0] = bad(frames[0])
			s.send(frames...)
			s.expectClose(codec.StatusTooBig)
		})},
		Case{"12.5.10", "A compressed message inflating to exactly the 16 MiB limit: echoed", slow(func(s *session) {
			s.offer = &chromeOffer
			p := repeat("0123456789abcdef", maxServerMessage)
			s.send(s.compressed(codec.OpBinary, p, 1<<20)...)
			s.expectMessage(codec.OpBinary, p)
			s.closeNormally()
		})},
	)
	return cs
}

// deflateEchoes offers offer, then sends count compressed messages of
// size bytes, each in frames of a part'th of its payload (0: one frame),
// and expects each echoed, inflating the server's compressed echoes
// under the negotiated parameters.
func deflateEchoes(offer codec.DeflateParams, kd kind, size, count, part int) func(*session) {
	return func(s *session) {
		s.offer = &offer
		msgs := make([][]byte, count)
		var frames []frame
		for i := range msgs {
			msgs[i] = kd.make(size, uint64(i))
			if size >= 8 {
				copy(msgs[i], fmt.Sprintf("%08d", i))
			}
			n := 1 << 30
			if part > 0 {
				n = max(1, len(s.pmdPayloadSize(kd.op, msgs[i]))/part)
			}
			frames = append(frames, s.compressed(kd.op, msgs[i], n)...)
		}
		s.sendFramewise(frames...)
		for _, m := range msgs {
			s.expectMessage(kd.op, m)
		}
		s.closeNormally()
	}
}

// pmdPayloadSize compresses msg on a scratch copy of the client's state,
// to learn its payload's size without moving the real context.
func (s *session) pmdPayloadSize(op codec.Opcode, msg []byte) []byte {
	if s.conn == nil {
		s.dial()
	}
	if s.pmd == nil {
		s.fatalf("the server did not accept permessage-deflate (offered %s)", s.offerString())
	}
	scratch := *s.pmd
	scratch.sent = append([]byte(nil), s.pmd.sent...)
	return scratch.compress(msg)
}

// mixedCompression sends compressed and plain messages in turn: a plain
// message (RSV1 clear) does not go through the compressor and is not
// part of the context.
func mixedCompression(s *session) {
	s.offer = &chromeOffer
	var frames []frame
	var msgs [][]byte
	for i := range 8 {
		m := textOf(500 + i)
		msgs = append(msgs, m)
		if i%2 == 0 {
			frames = append(frames, s.compressed(codec.OpText, m, 1<<20)...)
		} else {
			frames = append(frames, text(m))
		}
	}
	s.sendFramewise(frames...)
	for _, m := range msgs {
		s.expectText(m)
	}
	s.closeNormally()
}

// paramCases are group 13: every combination of the offer's parameters,
// every window size, and several offers at once. Whatever the server
// answers must be a valid answer to the offer (codec.CheckResponse is
// the judge), and messages of every size must pass both ways under it.
func paramCases() []Case {
	var cs []Case
	n := 0
	for _, serverNoCtx := range []bool{false, true} {
		for _, clientNoCtx := range []bool{false, true} {
			for _, serverBits := range []uint8{0, 9, 12, 15} {
				for _, clientBits := range []uint8{0, 15, 9, 12} {
					offer := codec.DeflateParams{
						ServerNoContextTakeover: serverNoCtx, ClientNoContextTakeover: clientNoCtx,
						ServerMaxWindowBits: serverBits, ClientMaxWindowBits: clientBits,
					}
					n++
					cs = append(cs, Case{
						ID:   fmt.Sprintf("13.1.%d", n),
						Desc: "Offer " + string(codec.AppendDeflate(nil, offer, true)) + ": messages of 16 bytes to 256 KiB both ways",
						run:  paramEchoes(offer),
					})
				}
			}
		}
	}
	for bits := uint8(9); bits <= 15; bits++ {
		for i, offer := range []codec.DeflateParams{{ServerMaxWindowBits: bits}, {ClientMaxWindowBits: bits}} {
			cs = append(cs, Case{
				ID:   fmt.Sprintf("13.%d.%d", i+2, bits-8),
				Desc: "Offer " + string(codec.AppendDeflate(nil, offer, true)) + ": messages of 16 bytes to 256 KiB both ways",
				run:  paramEchoes(offer),
			})
		}
	}
	cs = append(cs,
		Case{"13.4.1", "A malformed offer, then a good one: the good one is accepted", func(s *session) {
			s.rawOffer = "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover"
			s.offer = &codec.DeflateParams{ClientNoContextTakeover: true}
			paramEchoes(*s.offer)(s)
		}},
		Case{"13.4.2", "An unknown extension, then permessage-deflate: permessage-deflate is accepted", func(s *session) {
			s.rawOffer = "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits"
			s.offer = &chromeOffer
			paramEchoes(chromeOffer)(s)
		}},
		Case{"13.4.3", "Only a malformed offer (an unknown parameter): declined, plain messages work", func(s *session) {
			s.rawOffer = "permessage-deflate; x_unknown"
			s.dial()
			if s.pmd != nil {
				s.fatalf("the server accepted %s", s.rawOffer)
			}
			s.send(text("Hello"))
			s.expectText([]byte("Hello"))
			s.closeNormally()
		}},
	)
	return cs
}

// paramEchoes offers offer and, under whatever the server accepts, sends
// compressible text of each size compressed (and a plain one), expecting
// every echo. It moves about 340 KiB each way, compressed by both ends,
// which under -race on a busy machine takes seconds: slow's deadline.
func paramEchoes(offer codec.DeflateParams) func(*session) {
	return slow(func(s *session) {
		s.offer = &offer
		var frames []frame
		var msgs [][]byte
		for i, n := range deflateSizes {
			m := textOf(n)
			if n >= 8 {
				copy(m, fmt.Sprintf("%08d", i))
			}
			msgs = append(msgs, m)
			frames = append(frames, s.compressed(codec.OpText, m, 16<<10)...)
		}
		msgs = append(msgs, textOf(100))
		frames = append(frames, text(textOf(100)))
		s.sendFramewise(frames...)
		for _, m := range msgs {
			s.expectText(m)
		}
		s.closeNormally()
	})
}
