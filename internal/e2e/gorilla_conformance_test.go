package e2e

import (
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/shoalws/shoal/internal/conformance"
)

// TestGorillaConformance runs the conformance suite against gorilla/websocket,
// a proven independent implementation, to show that the suite is right:
// what gorilla fails, the suite must explain in gorillaSkips.
func TestGorillaConformance(t *testing.T) {
	addr := startGorillaEcho(t, false)
	skips := map[string]string{
		"12": "this gorilla server does not negotiate compression (TestGorillaDeflateConformance does)",
		"13": "this gorilla server does not negotiate compression (TestGorillaDeflateConformance does)",
	}
	maps.Copy(skips, gorillaSkips)
	conformance.Run(t, addr, conformance.Options{Skip: skips})
}

// TestGorillaDeflateConformance runs the compression cases against
// gorilla with EnableCompression, which is what shows that the suite's
// client (the standard library's compress/flate) and its judgement of a
// server's answers are right.
func TestGorillaDeflateConformance(t *testing.T) {
	addr := startGorillaEcho(t, true)
	conformance.Run(t, addr, conformance.Options{Only: []string{"12", "13"}, Skip: gorillaDeflateSkips()})
}

// gorillaDeflateSkips are the compression cases gorilla v1.5.3 fails,
// each checked against its conn.go and compression.go; shoal runs them
// all with no skips.
func gorillaDeflateSkips() map[string]string {
	skips := map[string]string{
		"12.5.3": "gorilla ignores RSV1 on a continuation frame instead of failing with 1002 (RFC 7692 §6.1)",
		"12.5.4": "gorilla ignores RSV1 on a control frame instead of failing with 1002 (RFC 7692 §6.1)",
		"12.5.7": "gorilla drops TCP without a close frame when a message does not inflate",
		"12.5.9": "gorilla's read limit counts compressed bytes: a message inflating past it is taken whole",
		"13.4.3": "gorilla accepts a permessage-deflate offer with an unknown parameter, " +
			"which RFC 7692 §7.1 says a server MUST decline",
	}
	for _, c := range conformance.Cases() {
		if strings.Contains(c.Desc, "server_max_window_bits") {
			skips[c.ID] = "gorilla accepts an offer with server_max_window_bits without answering it, " +
				"which the client MUST fail (RFC 7692 §7.1.2.1)"
		}
	}
	return skips
}

// gorillaSkips are the cases where gorilla v1.5.3 is more lenient than
// RFC 6455 as this suite reads it. Each was checked against gorilla's
// conn.go (advanceFrame); shoal runs the same cases with no skips.
var gorillaSkips = map[string]string{
	"7.3.2": "gorilla takes a 1-byte close payload as a close without status code " +
		"and answers it, instead of failing with 1002 (RFC 6455 §5.5.1)",
	"7.5.1": "gorilla fails a close reason that is not UTF-8 with 1002, " +
		"not 1007 (Autobahn accepts either; this suite asks for 1007)",
	"x.2": "gorilla drops TCP without a close frame on a 64-bit length " +
		"with the top bit set (ErrReadLimit), instead of closing with 1002",
}

// maxMessage is the echo server's message size limit.
const maxMessage = 16 << 20

// startGorillaEcho serves a gorilla echo server on a loopback port for the
// duration of the test and returns its address.
func startGorillaEcho(t *testing.T, compress bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, EnableCompression: compress}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return // Upgrade has answered with an HTTP error
			}
			defer c.Close()
			echo(c)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// echo echoes every message back as it arrives, text or binary as it
// came, streaming through NextReader and NextWriter. gorilla answers pings
// and closes, and fails protocol errors with 1002 and over-long messages
// with 1009, by itself; it does not check that text is UTF-8, so echo
// does, as gorilla's own Autobahn server does, and closes with 1007.
func echo(c *websocket.Conn) {
	c.SetReadLimit(maxMessage)
	for {
		op, r, err := c.NextReader()
		if err != nil {
			return
		}
		if op == websocket.TextMessage {
			r = &utf8Reader{r: r}
		}
		w, err := c.NextWriter(op)
		if err != nil {
			return
		}
		if _, err := io.Copy(w, r); err != nil {
			if errors.Is(err, errInvalidUTF8) {
				msg := websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "")
				_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			}
			return
		}
		if err := w.Close(); err != nil {
			return
		}
	}
}

var errInvalidUTF8 = errors.New("invalid UTF-8 in a text message")

// utf8Reader passes a text message through and fails with errInvalidUTF8
// on the read that brings the first byte that cannot be part of valid
// UTF-8, so the connection fails fast, before the message ends. It uses
// the standard library only, to stay independent of shoal's codec.
type utf8Reader struct {
	r    io.Reader
	open []byte // the start of a code point split across reads
}

func (v *utf8Reader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	b := p[:n]
	// Finish the code point the previous read left open.
	for len(v.open) > 0 && len(b) > 0 {
		v.open = append(v.open, b[0])
		b = b[1:]
		if utf8.FullRune(v.open) {
			if !utf8.Valid(v.open) {
				return n, errInvalidUTF8
			}
			v.open = v.open[:0]
		}
	}
	// Hold back a code point cut by the end of this read. FullRune is
	// false only for a prefix that can still become valid.
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(b[:cut]) {
		return n, errInvalidUTF8
	}
	v.open = append(v.open, b[cut:]...)
	if errors.Is(err, io.EOF) && len(v.open) > 0 {
		return n, errInvalidUTF8 // the message ends inside a code point
	}
	return n, err
}
