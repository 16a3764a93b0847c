package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/shoalws/shoal/codec"
)

// maxMessage bounds what the client buffers of one server message: the
// echo of the largest message a case sends (16 MiB) with room to spare.
const maxMessage = 32 << 20

// event is what the server did, as the client sees it: a whole message, a
// pong, a close frame, or the end of the TCP connection.
type event struct {
	kind    eventKind
	op      codec.Opcode // of a message
	data    []byte       // message or pong payload, close reason
	code    codec.StatusCode
	partial int // bytes of an unfinished message before a close or the end
	// compressed: the message came with RSV1 (permessage-deflate); data
	// is what it inflated to.
	compressed bool
}

type eventKind int

const (
	evMessage eventKind = iota
	evPong
	evClose
	evEnd
)

func (e event) String() string {
	switch e.kind {
	case evMessage:
		return fmt.Sprintf("a %v message of %d bytes %s", e.op, len(e.data), excerpt(e.data))
	case evPong:
		return fmt.Sprintf("a pong with payload %s", excerpt(e.data))
	case evClose:
		if e.code == codec.StatusNoStatusRcvd {
			return "a close frame without status code"
		}
		return fmt.Sprintf("a close frame with code %d reason %q", e.code, e.data)
	}
	return "the end of the TCP connection"
}

// excerpt quotes at most 40 bytes of p.
func excerpt(p []byte) string {
	if len(p) > 40 {
		return fmt.Sprintf("%q...", p[:40])
	}
	return fmt.Sprintf("%q", p)
}

// next reads until the server has done something a case can expect: it
// reassembles messages, answers pings, and fails the case on a frame no
// server may send, or when nothing comes before the deadline (waiting for
// says what for).
func (s *session) next(waitingFor string) event {
	s.t.Helper()
	if s.conn == nil {
		s.dial()
	}
	for {
		h, p, err := s.readFrame()
		if err != nil {
			if connGone(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return event{kind: evEnd, partial: len(s.msg)}
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.fatalf("timed out waiting for %s", waitingFor)
			}
			s.fatalf("waiting for %s: %v", waitingFor, err)
		}
		if s.gotClose {
			s.fatalf("server sent a %v frame after its close frame", h.Op)
		}
		if ev, ok := s.handle(h, p); ok {
			return ev
		}
	}
}

// readFrame reads one frame and checks it as RFC 6455 tells a client to:
// unmasked (§5.1), no RSV bit without an extension, no reserved opcode,
// control frames final and at most 125 bytes (§5.5).
func (s *session) readFrame() (codec.Header, []byte, error) {
	s.t.Helper()
	var hdr [codec.MaxHeaderSize]byte
	if _, err := io.ReadFull(s.rd, hdr[:2]); err != nil {
		return codec.Header{}, nil, err
	}
	h, n, err := codec.DecodeHeader(hdr[:2])
	if errors.Is(err, codec.ErrNeedMore) {
		if _, err := io.ReadFull(s.rd, hdr[2:n]); err != nil {
			return h, nil, err
		}
		h, _, err = codec.DecodeHeader(hdr[:n])
	}
	if err == nil {
		rules := codec.Rules{Role: codec.RoleClient}
		if s.pmd != nil {
			rules.Rsv = codec.Rsv1 // and codec checks it is on a first data frame only
		}
		err = rules.Check(h)
	}
	if err != nil {
		s.fatalf("server sent an invalid frame header % x: %v", hdr[:n], err)
	}
	if h.Length > maxMessage-int64(len(s.msg)) {
		s.fatalf("server sent a %v frame of %d bytes, more than any echo here", h.Op, h.Length)
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(s.rd, p)
	return h, p, err
}

// handle applies one frame to the session and returns the event it
// completes, if any.
func (s *session) handle(h codec.Header, p []byte) (event, bool) {
	s.t.Helper()
	switch h.Op {
	case codec.OpPing:
		// Answer as RFC 6455 §5.5.2 requires, even mid-case: a server may
		// keep the connection alive. It may be gone already.
		s.logf("server sent a ping %s; answering it", excerpt(p))
		s.wr.queue([]write{{data: appendWire(nil, pong(p), maskKeys(1)[0]), mayFail: true}})
		return event{}, false
	case codec.OpPong:
		return event{kind: evPong, data: p}, true
	case codec.OpClose:
		code, reason, err := codec.ParseClose(p)
		if err != nil {
			s.fatalf("server sent an invalid close payload % x: %v", p, err)
		}
		s.gotClose = true
		return event{kind: evClose, code: code, data: reason, partial: len(s.msg)}, true
	}
	// A data frame: RFC 6455 §5.4 fragmentation rules, as the server must
	// follow them when it sends too.
	switch {
	case h.Op == codec.OpContinuation && !s.msgOpen:
		s.fatalf("server sent a continuation frame with no message open")
	case h.Op != codec.OpContinuation && s.msgOpen:
		s.fatalf("server started a %v message inside an unfinished %v message", h.Op, s.msgOp)
	case h.Op != codec.OpContinuation:
		s.msgOp, s.msgOpen, s.msg, s.msgRsv1 = h.Op, true, nil, h.Rsv&codec.Rsv1 != 0
	}
	s.msg = append(s.msg, p...)
	if !h.Fin {
		return event{}, false
	}
	ev := event{kind: evMessage, op: s.msgOp, data: s.msg, compressed: s.msgRsv1}
	if s.msgRsv1 {
		data, err := s.pmd.inflate(s.msg)
		if err != nil {
			s.fatalf("%v", err)
		}
		ev.data = data
	}
	s.msgOp, s.msgOpen, s.msg, s.msgRsv1 = 0, false, nil, false
	return ev, true
}

// expectMessage expects the next event to be the echo of a message: same
// type, same bytes. The server may fragment it differently.
func (s *session) expectMessage(op codec.Opcode, want []byte) {
	s.t.Helper()
	what := fmt.Sprintf("the echo of a %v message of %d bytes", op, len(want))
	ev := s.next(what)
	if ev.kind != evMessage {
		s.fatalf("expected %s, got %v", what, ev)
	}
	if ev.op != op {
		s.fatalf("expected %s, got %v", what, ev)
	}
	if !bytes.Equal(ev.data, want) {
		s.fatalf("echo differs from what was sent: %s", diff(ev.data, want))
	}
}

func (s *session) expectText(want []byte) { s.t.Helper(); s.expectMessage(codec.OpText, want) }

// diff describes where got first differs from want.
func diff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("got %d bytes, want %d; first difference at offset %d: got %s, want %s",
		len(got), len(want), i, excerpt(got[i:]), excerpt(want[i:]))
}

// expectPong expects the next event to be a pong carrying exactly p
// (RFC 6455 §5.5.3: "MUST have identical Application data").
func (s *session) expectPong(p string) {
	s.t.Helper()
	what := fmt.Sprintf("a pong with payload %s", excerpt([]byte(p)))
	ev := s.next(what)
	if ev.kind != evPong || string(ev.data) != p {
		s.fatalf("expected %s, got %v", what, ev)
	}
}

// expectQuiet checks that the server sent nothing so far: it pings with a
// fresh payload and expects that pong as the very next event. Frames are
// handled in order, so anything the server sent for earlier frames would
// come first. This needs no sleep and no guess of how long to wait.
func (s *session) expectQuiet() {
	s.t.Helper()
	probe := fmt.Sprintf("quiet probe %x", maskKeys(1)[0])
	s.send(ping(probe))
	s.expectPong(probe)
}

// expectClose expects the next event to be a close frame with one of
// codes (codec.StatusNoStatusRcvd stands for an empty close payload),
// then the server closing TCP. Part of a message may come first: a
// server that streams its echo may have sent some of it before failing.
// A whole message may not.
//
// If the client did not send a close first it answers with one, as RFC
// 6455 §5.5.1 requires, so that a server waiting for the closing
// handshake to finish does not have to time out.
func (s *session) expectClose(codes ...codec.StatusCode) {
	s.t.Helper()
	what := "a close frame with code " + codeList(codes)
	ev := s.next(what)
	if ev.kind != evClose {
		s.fatalf("expected %s, got %v", what, ev)
	}
	if !slices.Contains(codes, ev.code) {
		s.fatalf("expected %s, got %v", what, ev)
	}
	if ev.partial > 0 {
		s.logf("server sent %d bytes of an unfinished message before closing", ev.partial)
	}
	if !s.sentClose {
		reply := closeRaw("")
		if ev.code != codec.StatusNoStatusRcvd {
			reply = closeFrame(uint16(ev.code), "")
		}
		s.send(reply)
	}
	s.expectEnd()
}

// expectEnd expects the server to close the TCP connection: after the
// closing handshake "the server SHOULD close the underlying TCP
// connection first" (RFC 6455 §7.1.1), and a server failing a connection
// closes it too (§7.1.7). Waiting is bounded by the case's deadline.
func (s *session) expectEnd() {
	s.t.Helper()
	ev := s.next("the server to close the TCP connection")
	if ev.kind != evEnd {
		s.fatalf("expected the server to close the TCP connection, got %v", ev)
	}
}

// closeNormally does the closing handshake a case ends with once the
// server has echoed everything: close 1000, the server echoes 1000 and
// closes TCP.
func (s *session) closeNormally() {
	s.t.Helper()
	s.send(closeFrame(1000, ""))
	s.expectClose(codec.StatusNormalClosure)
}

func codeList(codes []codec.StatusCode) string {
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteString(" or ")
		}
		if c == codec.StatusNoStatusRcvd {
			b.WriteString("none")
		} else {
			fmt.Fprint(&b, uint16(c))
		}
	}
	return b.String()
}
