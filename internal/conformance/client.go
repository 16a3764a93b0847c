package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
)

// session is one client connection of a case: the WebSocket handshake,
// frames written by a goroutine of its own, frames read and checked by
// the case's goroutine.
//
// Writes run beside reads because the server echoes while it reads: a
// client that wrote a 16 MiB message before reading anything would fill
// both socket buffers and stall against the server's own echo.
type session struct {
	t        *testing.T
	name     string // variant name in messages, "" for a case's only connection
	addr     string
	path     string
	tls      *tls.Config // nil: plain TCP
	deadline time.Time   // of the whole case: every dial, read and write stops there

	conn net.Conn
	rd   *bufio.Reader
	wr   *writer

	// offer, if set before the connection is dialed, is the
	// permessage-deflate offer, sent as rawOffer instead if that is set
	// (several offers, malformed ones); offer is then the one the server
	// must accept, if any. pmd is what was negotiated, nil for nothing.
	offer    *codec.DeflateParams
	rawOffer string
	pmd      *pmd

	failing   bool // a bad frame or a close went out: the server may drop the connection
	sentClose bool
	gotClose  bool
	msg       []byte       // the message being reassembled
	msgOp     codec.Opcode // its opcode; 0 when no message is open
	msgOpen   bool
	msgRsv1   bool // it is compressed
}

// dial connects and performs the opening handshake (RFC 6455 §4.1).
func (s *session) dial() {
	s.t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), s.deadline)
	defer cancel()
	var conn net.Conn
	var err error
	if s.tls != nil {
		d := tls.Dialer{Config: s.tls}
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		s.fatalf("dial: %v", err)
	}
	s.conn = conn
	_ = conn.SetDeadline(s.deadline)
	rest, resp, err := handshake(conn, s.addr, s.path, s.offer, s.rawOffer)
	if err != nil {
		s.fatalf("handshake: %v", err)
	}
	if resp != nil {
		s.pmd = newPMD(*resp)
	}
	// Bytes the server sent right after its response are the first frames.
	s.rd = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), conn), 64<<10)
	s.wr = startWriter(conn)
}

// handshake sends the client's opening handshake and reads the response,
// returning whatever followed the response's header block and the
// permessage-deflate parameters the server accepted, if it did. offer is
// sent as the Sec-WebSocket-Extensions value rawOffer if that is set.
func handshake(conn net.Conn, addr, path string, offer *codec.DeflateParams, rawOffer string) ([]byte, *codec.DeflateParams, error) {
	key := codec.NewKey()
	req := codec.ClientRequest{Host: addr, Target: path, Key: key[:], Deflate: offer}
	if rawOffer != "" {
		req.Deflate = nil
	}
	buf, err := req.Append(nil)
	if err != nil {
		return nil, nil, err
	}
	if rawOffer != "" {
		buf = append(buf[:len(buf)-2], "Sec-WebSocket-Extensions: "+rawOffer+"\r\n\r\n"...)
		req.Deflate = offer
	}
	if _, err := conn.Write(buf); err != nil {
		return nil, nil, err
	}
	var resp codec.Response
	buf = make([]byte, 0, 4096)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		hn, perr := codec.ParseResponse(buf, 0, &resp)
		switch {
		case perr == nil:
			if _, err := req.CheckResponse(&resp); err != nil {
				return nil, nil, err
			}
			var accepted *codec.DeflateParams
			if p, ok := resp.Deflate(); ok {
				accepted = &p
			}
			return buf[hn:], accepted, nil
		case !errors.Is(perr, codec.ErrNeedMore):
			return nil, nil, perr
		case err != nil:
			return nil, nil, fmt.Errorf("reading the response: %w", err)
		}
	}
}

// finish closes the connection and reports a write that failed where it
// should not have.
func (s *session) finish() {
	s.t.Helper()
	if s.conn == nil {
		return
	}
	if s.wr == nil { // the handshake failed
		_ = s.conn.Close()
	} else if err := s.wr.stop(); err != nil && !s.t.Failed() {
		// A failed case has already named the write error in its message.
		s.errorf("%v", err)
	}
	s.conn = nil
}

func (s *session) prefix() string {
	if s.name == "" {
		return ""
	}
	return s.name + ": "
}

func (s *session) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf(s.prefix()+format+s.writeNote(), args...)
}

func (s *session) errorf(format string, args ...any) {
	s.t.Helper()
	s.t.Errorf(s.prefix()+format, args...)
}

func (s *session) logf(format string, args ...any) {
	s.t.Helper()
	s.t.Logf(s.prefix()+format, args...)
}

// writeNote tells a failure message about a write that went wrong first,
// which is often the real cause.
func (s *session) writeNote() string {
	if s.wr == nil {
		return ""
	}
	if err := s.wr.failure(); err != nil {
		return fmt.Sprintf(" (an earlier write failed: %v)", err)
	}
	return ""
}

// send writes frames in one write: they reach the server together, as
// Autobahn sends what it calls "one chop".
func (s *session) send(frames ...frame) { s.sendSplit(0, frames) }

// sendFramewise writes each frame on its own (Autobahn's "frame-wise").
func (s *session) sendFramewise(frames ...frame) { s.sendSplit(-1, frames) }

// sendChunked writes the frames' bytes n at a time (Autobahn's "in chops
// of n octets"; n = 1 is "octet-wise"): the server must decode headers and
// payloads that arrive in pieces. TCP_NODELAY, on by default in Go, sends
// each write at once.
func (s *session) sendChunked(n int, frames ...frame) { s.sendSplit(n, frames) }

// sendSplit queues frames for the writer: as one write (split 0), a write
// per frame (-1) or writes of split bytes. Writes from the first bad or
// close frame on may find the connection gone without that being an
// error: a server may fail, or finish closing, before reading the rest.
func (s *session) sendSplit(split int, frames []frame) {
	s.t.Helper()
	if s.conn == nil {
		s.dial()
	}
	keys := maskKeys(len(frames))
	var wire []byte
	var ends []int
	badFrom := -1
	if s.failing {
		badFrom = 0
	}
	for i, f := range frames {
		if badFrom < 0 && (f.bad || f.op == codec.OpClose) {
			badFrom = len(wire)
		}
		if f.op == codec.OpClose {
			s.sentClose = true
		}
		wire = appendWire(wire, f, keys[i])
		ends = append(ends, len(wire))
	}
	if badFrom >= 0 {
		s.failing = true
	}
	s.wr.queue(splitWrites(wire, ends, split, badFrom))
}

// splitWrites cuts wire into the writes sendSplit asked for; a write may
// fail harmlessly if it ends past badFrom (-1: none may).
func splitWrites(wire []byte, ends []int, split, badFrom int) []write {
	var cuts []int
	switch {
	case split == 0:
		cuts = []int{len(wire)}
	case split < 0:
		cuts = ends
	default:
		for n := split; n < len(wire)+split; n += split {
			cuts = append(cuts, min(n, len(wire)))
		}
	}
	var out []write
	start := 0
	for _, end := range cuts {
		if end == start {
			continue
		}
		out = append(out, write{data: wire[start:end], mayFail: badFrom >= 0 && end > badFrom})
		start = end
	}
	return out
}

// write is one conn.Write the writer goroutine makes.
type write struct {
	data    []byte
	mayFail bool // a closed or reset connection is expected, not an error
}

// writer owns the connection's write side. Its queue is unbounded so that
// a case never blocks on sending while the server waits for it to read.
type writer struct {
	conn net.Conn
	mu   sync.Mutex
	q    []write
	done bool  // stop was called
	err  error // first write that failed when it should not have
	wake chan struct{}
	exit chan struct{}
}

func startWriter(conn net.Conn) *writer {
	w := &writer{conn: conn, wake: make(chan struct{}, 1), exit: make(chan struct{})}
	go w.loop()
	return w
}

func (w *writer) queue(ws []write) {
	w.mu.Lock()
	w.q = append(w.q, ws...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writer) loop() {
	defer close(w.exit)
	gone := false // the server closed the connection as it was allowed to
	for {
		w.mu.Lock()
		q, done := w.q, w.done
		w.q = nil
		w.mu.Unlock()
		for _, wr := range q {
			if gone {
				continue
			}
			if _, err := w.conn.Write(wr.data); err != nil {
				if (wr.mayFail && connGone(err)) || w.stopping() {
					gone = true
					continue
				}
				w.mu.Lock()
				w.err = fmt.Errorf("write of %d bytes: %w", len(wr.data), err)
				w.mu.Unlock()
				return
			}
		}
		if done { // everything queued before stop has been taken
			return
		}
		<-w.wake
	}
}

// failure returns the write error so far, if any.
func (w *writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// stopping reports whether stop was called: writes fail from then on
// because the case closed the connection.
func (w *writer) stopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

// stop closes the connection, waits for the writer to end and returns its
// error. Writes still queued were all allowed to fail, or the case has
// already failed on a read.
func (w *writer) stop() error {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	_ = w.conn.Close()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.exit
	return w.failure()
}

// connGone reports whether err says the peer closed or reset the
// connection.
func connGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
