// Package wstest is a raw WebSocket client for tests: it sends frames
// exactly as built (masked as a client must, or not, to provoke errors),
// in pieces if asked, and reads the server's frames back one by one.
// Every read has a deadline, so a test never hangs on a silent server.
package wstest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/shoalws/shoal/codec"
)

// Client is one raw connection. Like a net.Conn, it may be read by one
// goroutine while another writes; reads (and writes) must not overlap.
type Client struct {
	Conn    net.Conn
	r       *bufio.Reader
	Timeout time.Duration // per read; default 5s
	// Deflate is the permessage-deflate the server accepted (DialDeflate),
	// nil if none.
	Deflate *codec.DeflateParams
}

// Dial connects to addr and completes the opening handshake for target
// (e.g. "/"), with extra header lines; an "Origin" line becomes the
// request's Origin, as a browser sends it.
func Dial(addr, target string, header ...codec.HeaderField) (*Client, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return Handshake(nc, addr, target, header...)
}

// DialTLS is Dial over TLS with config (wss://).
func DialTLS(addr, target string, config *tls.Config, header ...codec.HeaderField) (*Client, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: config}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Handshake(nc, addr, target, header...)
}

// Handshake completes the opening handshake on a connection the caller
// opened, as Dial does; nc is closed if it fails.
func Handshake(nc net.Conn, host, target string, header ...codec.HeaderField) (*Client, error) {
	c := &Client{Conn: nc, r: bufio.NewReaderSize(nc, 64<<10), Timeout: 5 * time.Second}
	if err := c.handshake(host, target, nil, header); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// DialDeflate is Dial offering permessage-deflate with offer; Deflate
// says what the server accepted.
func DialDeflate(addr, target string, offer codec.DeflateParams, header ...codec.HeaderField) (*Client, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &Client{Conn: nc, r: bufio.NewReaderSize(nc, 64<<10), Timeout: 5 * time.Second}
	if err := c.handshake(addr, target, &offer, header); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) handshake(host, target string, offer *codec.DeflateParams, header []codec.HeaderField) error {
	key := codec.NewKey()
	req := codec.ClientRequest{Host: host, Target: target, Key: key[:], Deflate: offer}
	for _, h := range header {
		if strings.EqualFold(h.Name, "Origin") {
			req.Origin = h.Value
		} else {
			req.Header = append(req.Header, h)
		}
	}
	b, err := req.Append(nil)
	if err != nil {
		return err
	}
	if _, err := c.Conn.Write(b); err != nil {
		return err
	}
	c.Conn.SetReadDeadline(time.Now().Add(c.Timeout))
	var head []byte
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		head = append(head, line...)
		if string(line) == "\r\n" {
			break
		}
	}
	var resp codec.Response
	if _, err := codec.ParseResponse(head, 0, &resp); err != nil {
		return err
	}
	if _, err = req.CheckResponse(&resp); err != nil {
		return err
	}
	if p, ok := resp.Deflate(); ok {
		c.Deflate = &p
	}
	return nil
}

// Compress compresses msg as one permessage-deflate payload with no
// context, with the standard library.
func Compress(msg []byte) []byte {
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestSpeed)
	w.Write(msg)
	w.Flush()
	return out.Bytes()[:out.Len()-4]
}

// Inflate inflates a permessage-deflate payload with dict as its context
// (nil for none), with the standard library.
func Inflate(payload, dict []byte) ([]byte, error) {
	r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(payload),
		strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")), dict)
	return io.ReadAll(r)
}

// BuildCompressed encodes a masked client frame holding msg compressed:
// RSV1 set.
func BuildCompressed(op codec.Opcode, msg []byte) []byte {
	h := codec.Header{Fin: true, Rsv: codec.Rsv1, Op: op, Masked: true, Mask: Mask()}
	return codec.AppendFrame(nil, h, Compress(msg))
}

// Frame is one frame as read from the server.
type Frame struct {
	codec.Header
	Payload []byte
}

// Mask returns a fresh random masking key.
func Mask() [4]byte {
	k := rand.Uint32()
	return [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
}

// Build encodes a masked client frame.
func Build(op codec.Opcode, fin bool, payload []byte) []byte {
	h := codec.Header{Fin: fin, Op: op, Masked: true, Mask: Mask()}
	return codec.AppendFrame(nil, h, payload)
}

// WriteFrame sends one masked frame.
func (c *Client) WriteFrame(op codec.Opcode, fin bool, payload []byte) error {
	return c.WriteRaw(Build(op, fin, payload))
}

// WriteRaw sends bytes as they are.
func (c *Client) WriteRaw(b []byte) error {
	c.Conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	_, err := c.Conn.Write(b)
	return err
}

// WriteChunked sends b in pieces of n bytes, each its own write.
func (c *Client) WriteChunked(b []byte, n int) error {
	for len(b) > 0 {
		k := min(n, len(b))
		if err := c.WriteRaw(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

// ReadFrame reads the next frame; server frames must not be masked.
func (c *Client) ReadFrame() (Frame, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.Timeout))
	var hdr [codec.MaxHeaderSize]byte
	if _, err := io.ReadFull(c.r, hdr[:2]); err != nil {
		return Frame{}, err
	}
	_, need, err := codec.DecodeHeader(hdr[:2])
	if err != nil && !errors.Is(err, codec.ErrNeedMore) {
		return Frame{}, err
	}
	if _, err := io.ReadFull(c.r, hdr[2:need]); err != nil {
		return Frame{}, err
	}
	h, _, err := codec.DecodeHeader(hdr[:need])
	if err != nil {
		return Frame{}, err
	}
	if h.Masked {
		return Frame{}, errors.New("wstest: server sent a masked frame")
	}
	if h.Length > 64<<20 {
		return Frame{}, fmt.Errorf("wstest: frame of %d bytes", h.Length)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return Frame{}, err
	}
	return Frame{Header: h, Payload: p}, nil
}

// ReadMessage reads frames until a whole data message has arrived,
// skipping control frames, and returns its opcode and payload. A close
// frame ends it with a *codec.CloseError.
func (c *Client) ReadMessage() (codec.Opcode, []byte, error) {
	var op codec.Opcode
	var msg []byte
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return 0, nil, err
		}
		switch {
		case f.Op == codec.OpClose:
			code, reason, _ := codec.ParseClose(f.Payload)
			return 0, nil, &codec.CloseError{Code: code, Reason: string(reason)}
		case f.Op.IsControl():
			continue
		case f.Op != codec.OpContinuation:
			op = f.Op
		}
		msg = append(msg, f.Payload...)
		if f.Fin {
			return op, msg, nil
		}
	}
}

// ExpectClose reads until a close frame and returns its code, then checks
// that the server closes the TCP connection.
func (c *Client) ExpectClose() (codec.StatusCode, error) {
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return 0, fmt.Errorf("waiting for a close frame: %w", err)
		}
		if f.Op != codec.OpClose {
			continue
		}
		code, _, err := codec.ParseClose(f.Payload)
		if err != nil {
			return 0, err
		}
		return code, c.ExpectEOF()
	}
}

// ExpectEOF checks that the server closes the connection, then closes
// the client's end, as a browser does on seeing the server's FIN.
func (c *Client) ExpectEOF() error {
	c.Conn.SetReadDeadline(time.Now().Add(c.Timeout))
	b, err := io.ReadAll(c.r)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errors.New("wstest: server did not close the connection")
		}
	}
	c.Conn.Close()
	if len(b) > 0 {
		return fmt.Errorf("wstest: %d bytes after the close frame", len(b))
	}
	return nil
}

// Close closes the TCP connection.
func (c *Client) Close() error { return c.Conn.Close() }

// FromReader wraps a connection whose handshake was done by hand; r holds
// what was read past the response.
func FromReader(c net.Conn, r *bufio.Reader) *Client {
	return &Client{Conn: c, r: r, Timeout: 5 * time.Second}
}
