package shoal

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/shard"
)

// Upgrade answers a WebSocket handshake inside any net/http handler
// (behind http.ServeMux and middleware alike), takes the connection away
// from net/http and gives it to a shard. value is stored on the
// connection before OnOpen runs (the place for a user identity read from
// the request); OnOpen may run before Upgrade returns.
//
// On a bad handshake Upgrade answers with the HTTP status RFC 6455 asks
// for (400, 403, 426) and returns the error. The connection must be plain
// TCP: terminate TLS in front of shoal.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, value any) (*Conn, error) {
	key, protocol, err := s.checkUpgrade(r)
	if err != nil {
		reject(w, err)
		return nil, err
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: cannot take over this connection", http.StatusInternalServerError)
		return nil, err
	}
	resp := make([]byte, 0, 160)
	resp = append(resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = codec.AppendAcceptKey(resp, []byte(key))
	if protocol != "" {
		resp = append(resp, "\r\nSec-WebSocket-Protocol: "...)
		resp = append(resp, protocol...)
	}
	resp = append(resp, "\r\n\r\n"...)
	nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if _, err := nc.Write(resp); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	// Bytes the client sent right after its request (its first frames)
	// may already sit in net/http's buffer: they go with the connection.
	var ahead []byte
	if n := brw.Reader.Buffered(); n > 0 {
		ahead, _ = brw.Reader.Peek(n)
	}
	sc, err := s.handOver(nc, conn.StateOpen, ahead, func(sc *shard.Conn) {
		h := handle(sc)
		h.setProtocol(protocol)
		if value != nil {
			h.SetValue(value)
		}
	})
	if err != nil {
		return nil, err
	}
	return handle(sc), nil
}

// checkUpgrade applies RFC 6455 §4.2.1 to a request net/http parsed.
func (s *Server) checkUpgrade(r *http.Request) (key, protocol string, err error) {
	if r.Method != http.MethodGet {
		return "", "", codec.ErrMethod
	}
	if !r.ProtoAtLeast(1, 1) {
		return "", "", codec.ErrHTTPVersion
	}
	if !hasToken(r.Header["Upgrade"], "websocket") {
		return "", "", codec.ErrNotUpgrade
	}
	if !hasToken(r.Header["Connection"], "upgrade") {
		return "", "", codec.ErrConnectionHeader
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return "", "", codec.ErrVersion
	}
	keys := r.Header["Sec-Websocket-Key"]
	if len(keys) != 1 {
		return "", "", codec.ErrKey
	}
	key = strings.TrimSpace(keys[0])
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", "", codec.ErrKey
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.cfg.CheckOrigin(origin, r.Host) {
		return "", "", codec.ErrForbiddenOrigin
	}
	return key, selectProtocol(r.Header["Sec-Websocket-Protocol"], s.cfg.Subprotocols), nil
}

// hasToken reports whether a comma-separated header list holds token,
// case-insensitively.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func selectProtocol(offered []string, supported []string) string {
	for _, v := range offered {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			for _, sp := range supported {
				if p == sp {
					return sp
				}
			}
		}
	}
	return ""
}

// reject answers a refused handshake with the same response the shards
// write (codec.AppendRejectError) and closes the connection: the client
// sent a handshake, not a request to keep talking HTTP. Where the
// connection cannot be taken over (HTTP/2), net/http answers instead.
func reject(w http.ResponseWriter, err error) {
	nc, _, herr := http.NewResponseController(w).Hijack()
	if herr != nil {
		status, reason := http.StatusBadRequest, err.Error()
		var he *codec.HandshakeError
		if errors.As(err, &he) {
			status, reason = he.Status, he.Reason
		}
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, reason, status)
		return
	}
	defer nc.Close()
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(codec.AppendRejectError(nil, err))
}
