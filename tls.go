package shoal

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/tlsio"
	"github.com/shoalws/shoal/reactor"
	"github.com/shoalws/shoal/shard"
)

// TLS (wss://) is served on the shards: a connection's TLS handshake runs
// on a short-lived goroutine, bounded in number and time, and once it is
// done the socket and its tls.Conn move to a shard, which decrypts and
// encrypts on its own thread (see DESIGN.md, "TLS").

// DefaultMaxTLSHandshakes is Config.MaxTLSHandshakes's default.
const DefaultMaxTLSHandshakes = 1024

// NewTLSListener returns a listener for an http.Server (its Serve) that
// does TLS with config on the connections inner accepts, the way
// tls.NewListener does, except that Upgrade can move them to a shard
// afterwards: pages are served over https by net/http and the WebSocket
// endpoint on the same port goes to shoal, with no goroutine left behind.
//
// Connections speak HTTP/1.1: "h2" is taken out of config.NextProtos
// (a WebSocket cannot be taken over from an HTTP/2 connection), and
// "http/1.1" is offered. config's GetCertificate, GetConfigForClient
// (whose results get the same treatment) and the rest are used as they
// are, so golang.org/x/crypto/acme/autocert works.
//
// net/http runs the handshakes, bounded by the http.Server's
// ReadHeaderTimeout or ReadTimeout: set one.
func NewTLSListener(inner net.Listener, config *tls.Config) net.Listener {
	return &tlsListener{Listener: inner, config: serverTLS(config)}
}

type tlsListener struct {
	net.Listener
	config *tls.Config
}

// Accept is part of net.Listener.
func (l *tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(tlsio.NewTransport(nc), l.config), nil
}

// serverTLS returns the configuration shoal serves TLS with: config with
// HTTP/1.1 as the application protocol, also for the configurations its
// GetConfigForClient returns.
func serverTLS(config *tls.Config) *tls.Config {
	c := config.Clone()
	c.NextProtos = http1Only(c.NextProtos)
	if get := c.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := get(hello)
			if cc == nil || err != nil {
				return cc, err
			}
			cc = cc.Clone()
			cc.NextProtos = http1Only(cc.NextProtos)
			return cc, nil
		}
	}
	return c
}

// acmeALPN is the protocol of ACME's TLS-ALPN-01 challenge (RFC 8737),
// which autocert answers in GetCertificate: such a connection ends with
// its handshake.
const acmeALPN = "acme-tls/1"

// http1Only drops HTTP/2 from an ALPN list and puts HTTP/1.1 in it.
func http1Only(protos []string) []string {
	out := []string{"http/1.1"}
	for _, p := range protos {
		if p != "h2" && p != "h2c" && p != "http/1.1" {
			out = append(out, p)
		}
	}
	return out
}

// handshakes bounds the TLS handshakes in progress: each holds one of a
// fixed number of slots, the accept loop waits for a free one before
// accepting (connections wait in the kernel's backlog meanwhile), and
// Shutdown cuts the sockets of those in progress short.
type handshakes struct {
	free chan int // indices of free slots

	mu     sync.Mutex
	socks  []net.Conn // by slot: the socket of the handshake in it
	closed bool
}

func newHandshakes(n int) *handshakes {
	h := &handshakes{free: make(chan int, n), socks: make([]net.Conn, n)}
	for i := range n {
		h.free <- i
	}
	return h
}

// acquire waits for a free slot, or for done.
func (h *handshakes) acquire(done <-chan struct{}) (int, bool) {
	select {
	case i := <-h.free:
		return i, true
	case <-done:
		return 0, false
	}
}

// begin records nc in slot i; false after closeAll.
func (h *handshakes) begin(i int, nc net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.socks[i] = nc
	return true
}

// release frees slot i.
func (h *handshakes) release(i int) {
	h.mu.Lock()
	h.socks[i] = nil
	h.mu.Unlock()
	h.free <- i
}

// closeAll ends every handshake in progress at once, and any that begins
// later before it starts.
func (h *handshakes) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, nc := range h.socks {
		if nc != nil {
			nc.SetDeadline(time.Now())
		}
	}
}

// listenTLS opens Config.Addr's listening socket, as Listen does for
// plain connections (exclusive, or SO_REUSEPORT with Config.ReusePort),
// but accepts from it with Go's poller: TLS handshakes run on goroutines,
// which wait on their sockets there.
func (s *Server) listenTLS() (net.Addr, error) {
	fd, err := reactor.Listen(s.cfg.Addr, s.cfg.ReusePort, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "shoal-tls-listener")
	ln, err := net.FileListener(f) // a duplicate of fd
	f.Close()
	if err != nil {
		return nil, err
	}
	s.listeners = append(s.listeners, ln)
	go s.serveTLS(ln)
	return ln.Addr(), nil
}

// serveTLS accepts connections from l and runs their TLS handshakes,
// at most Config.MaxTLSHandshakes at a time.
func (s *Server) serveTLS(l net.Listener) error {
	for {
		slot, ok := s.handshakes.acquire(s.done)
		if !ok {
			return ErrServerClosed
		}
		nc, err := l.Accept()
		if err != nil {
			s.handshakes.release(slot)
			if retry, err := s.acceptFailed(err); !retry {
				return err
			}
			continue
		}
		go s.handshakeTLS(slot, nc)
	}
}

// acceptFailed decides what an accept loop does after an error: stop
// (after Shutdown, or for a listener that failed for good) or retry.
func (s *Server) acceptFailed(err error) (retry bool, _ error) {
	select {
	case <-s.done:
		return false, ErrServerClosed
	default:
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true, nil
	}
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		time.Sleep(10 * time.Millisecond)
		return true, nil
	}
	return false, err
}

// handshakeTLS runs the server side of one TLS handshake, within
// HandshakeTimeout, and moves the connection to a shard, which reads
// the WebSocket handshake over it.
func (s *Server) handshakeTLS(slot int, nc net.Conn) {
	// The deadline first: once begun, Shutdown's (now) must win.
	begun := time.Now()
	nc.SetDeadline(begun.Add(s.cfg.HandshakeTimeout))
	if !s.handshakes.begin(slot, nc) {
		s.handshakes.release(slot)
		nc.Close()
		return
	}
	tr := tlsio.NewTransport(nc)
	tc := tls.Server(tr, s.tlsConfig)
	err := tc.Handshake()
	if err == nil && tc.ConnectionState().NegotiatedProtocol == acmeALPN {
		err = errACME
	}
	s.handshakes.release(slot)
	if err != nil {
		if err != errACME {
			s.tlsHandshakeErrors.Add(1)
		}
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	s.handOverTLS(tc, tr, &shard.Adoption{Start: conn.StateHandshake, Begun: begun})
}

var errACME = errors.New("shoal: ACME TLS-ALPN-01 challenge answered")

// handOverTLS moves a connection whose TLS handshake is done to the next
// shard, as handOver does a plain one: the socket under tr is detached
// from Go's poller, and tc goes with it. The socket is closed if that
// fails.
func (s *Server) handOverTLS(tc *tls.Conn, tr *tlsio.Transport, a *shard.Adoption) (*shard.Conn, error) {
	nc := tr.NetConn()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		nc.Close()
		return nil, ErrCannotTakeOver
	}
	fd, err := reactor.Detach(sc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	tr.Detach()
	a.FD, a.Remote, a.TLS, a.Transport = fd, remoteOf(nc), tc, tr
	if a.Begun.IsZero() {
		a.Begun = time.Now()
	}
	return s.adopt(a)
}

// adoptable returns the transport of a TLS connection made by
// NewTLSListener (or Dial) that is still on its Go socket.
func adoptable(tc *tls.Conn) (*tlsio.Transport, bool) {
	tr, ok := tc.NetConn().(*tlsio.Transport)
	if !ok || tr.Detached() {
		return nil, false
	}
	return tr, true
}

// clientTLS returns the configuration Dial uses for host: config (or
// the defaults) with ServerName set from the URL when config has none,
// and HTTP/1.1 as the one application protocol offered.
func clientTLS(config *tls.Config, host string) *tls.Config {
	var c *tls.Config
	if config == nil {
		c = &tls.Config{}
	} else {
		c = config.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	c.NextProtos = []string{"http/1.1"}
	return c
}
