package rawws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// handshakeTimeout bounds a handshake whose context has no deadline.
const handshakeTimeout = 10 * time.Second

// maxResponse bounds the handshake response read.
const maxResponse = 8 << 10

// Dial connects to ws://addr/ (wss:// with tlsConfig set) and performs
// the opening handshake.
func Dial(ctx context.Context, addr string, tlsConfig *tls.Config) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: tlsConn(nc, tlsConfig), buf: make([]byte, ReadBufferSize)}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(handshakeTimeout)
	}
	c.nc.SetDeadline(deadline)
	if err := c.handshake(addr); err != nil {
		c.nc.Close()
		return nil, err
	}
	c.nc.SetDeadline(time.Time{})
	return c, nil
}

// handshake sends the upgrade request and checks the answer. Bytes
// read past the response are the first frames: they stay in buf.
func (c *Conn) handshake(host string) error {
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.nc.Write([]byte(req)); err != nil {
		return err
	}
	end := -1
	for end < 0 {
		if c.w == maxResponse {
			return ErrShort
		}
		n, err := c.nc.Read(c.buf[c.w:maxResponse])
		c.w += n
		if i := bytes.Index(c.buf[:c.w], []byte("\r\n\r\n")); i >= 0 {
			end = i + 4
		} else if err != nil {
			return fmt.Errorf("%w: %v", ErrShort, err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(c.buf[:end])), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return fmt.Errorf("rawws: handshake answered %s", resp.Status)
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return fmt.Errorf("rawws: handshake answered Upgrade %q", resp.Header.Get("Upgrade"))
	case !headerHas(resp.Header, "Connection", "upgrade"):
		return fmt.Errorf("rawws: handshake answered Connection %q", resp.Header.Get("Connection"))
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return fmt.Errorf("rawws: handshake answered a wrong Sec-WebSocket-Accept")
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		return fmt.Errorf("rawws: server chose extensions %q, none offered", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	c.r = end
	return nil
}

// headerHas reports whether a comma-separated header holds token.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
