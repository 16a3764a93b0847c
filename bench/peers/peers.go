// Package peers serves the same WebSocket echo or broadcast service with
// shoal and with four other Go WebSocket libraries, each in its own file and
// in that library's best-performing idiomatic setup, so the load generator
// can measure them against one another on equal terms.
//
// Every server accepts messages up to MaxMessage bytes, echoes text and
// binary exactly as received (type preserved), sets no idle timeout, and in
// broadcast mode sends every received message to every connected client,
// the sender included.
package peers

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
)

// MaxMessage is the largest message every peer accepts: 16 MiB, as
// examples/echo (the large-message conformance cases need it).
const MaxMessage = 16 << 20

// Server is one library's echo or broadcast service.
type Server interface {
	// Serve listens on addr (host:port; port 0 picks a free one) and
	// serves in the background. It returns the bound address and a stop
	// function that closes the listener and every connection; stop may be
	// called once.
	Serve(addr string, o Options) (bound string, stop func(), err error)
}

// Options choose the service.
type Options struct {
	// Broadcast sends every message to every connection instead of
	// echoing it.
	Broadcast bool
	// Compress negotiates permessage-deflate (RFC 7692) with clients that
	// offer it, at each library's default level, and compresses what the
	// server sends. ErrNoCompression from a library without it.
	Compress bool
	// Takeover, with Compress, keeps the compression context between
	// messages in both directions, where the library supports it.
	Takeover bool
	// CertFile and KeyFile, if set, make it serve wss:// with that
	// certificate: crypto/tls for every library but nbio, which has its
	// own (a fork of crypto/tls that its event loop drives).
	CertFile, KeyFile string
}

// TLS reports whether o asks for wss://.
func (o Options) TLS() bool { return o.CertFile != "" }

// tlsConfig loads o's certificate for crypto/tls, or returns nil for
// ws://. Only HTTP/1.1 is offered: a WebSocket is an HTTP/1.1 upgrade,
// and every library compared serves it so.
func (o Options) tlsConfig() (*tls.Config, error) {
	if !o.TLS() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}, nil
}

// listen opens addr, with TLS if o asks for it.
func (o Options) listen(addr string) (net.Listener, error) {
	cfg, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil || cfg == nil {
		return ln, err
	}
	return tls.NewListener(ln, cfg), nil
}

// ErrNoCompression is Serve's answer to Compress from a library whose
// peer here does not negotiate permessage-deflate.
var ErrNoCompression = errors.New("peers: this library's peer does not negotiate permessage-deflate")

// Libs maps a library's name to its server. nbio is there only when built
// with -tags nbio: see nbio.go for why it is left out.
var Libs = map[string]Server{
	"shoal":   shoalServer{},
	"gorilla": gorillaServer{},
	"gws":     gwsServer{},
	"gobwas":  gobwasServer{},
}

// connSet is the open connections of one server: broadcast fans out over
// it and stop closes what is left in it. The libraries that run a goroutine
// per connection or call back per event have no set of their own.
type connSet[T comparable] struct {
	mu sync.Mutex
	m  map[T]struct{}
}

func (s *connSet[T]) add(c T) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[T]struct{})
	}
	s.m[c] = struct{}{}
	s.mu.Unlock()
}

func (s *connSet[T]) remove(c T) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

// list is a snapshot, so a broadcast that blocks on one slow connection's
// write does not hold the set's lock (and stall every accept and close).
func (s *connSet[T]) list() []T {
	s.mu.Lock()
	out := make([]T, 0, len(s.m))
	for c := range s.m {
		out = append(out, c)
	}
	s.mu.Unlock()
	return out
}
