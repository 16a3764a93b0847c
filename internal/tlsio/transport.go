package tlsio

import (
	"errors"
	"net"
	"os"
	"time"
)

// Feed is the ciphertext a shard exchanges with the tls.Conns it owns.
// One Feed serves every connection of a shard: the shard runs one
// connection's crypto/tls calls at a time, sets In before them and takes
// Out after them.
type Feed struct {
	// In is ciphertext read from the socket and not yet taken by
	// crypto/tls. Read consumes it from the front.
	In []byte
	// Out collects the ciphertext crypto/tls wrote, to be sent in order.
	Out []byte
}

// ErrWouldBlock is what a detached Transport's Read returns when its Feed
// holds no input: "no more bytes yet". crypto/tls keeps a partial record
// across it. It looks like a read deadline that passed (Timeout and
// Temporary are true, errors.Is(err, os.ErrDeadlineExceeded) holds): the
// one read error crypto/tls promises to survive.
var ErrWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string        { return "tlsio: no input yet" }
func (wouldBlock) Timeout() bool        { return true }
func (wouldBlock) Temporary() bool      { return true }
func (wouldBlock) Is(target error) bool { return target == os.ErrDeadlineExceeded }

// ErrDetached is returned by the I/O of a Transport that was detached and
// has no Feed yet: the connection is on its way to a shard.
var ErrDetached = errors.New("tlsio: transport detached")

// Transport is the net.Conn a tls.Conn is made with (see the package
// doc). Before Detach it is safe for whatever use its Go connection is;
// after it, it belongs to the goroutine that owns its Feed.
type Transport struct {
	nc   net.Conn // until Detach
	feed *Feed    // after SetFeed
}

// NewTransport returns a Transport over nc, passing every call to it
// until Detach.
func NewTransport(nc net.Conn) *Transport { return &Transport{nc: nc} }

// Detach ends the first phase: it returns the Go connection, which the
// caller takes over (to move its socket to a shard), and from then on
// the Transport reads and writes only through the Feed given to SetFeed.
// It returns nil if it was already detached.
func (t *Transport) Detach() net.Conn {
	nc := t.nc
	t.nc = nil
	return nc
}

// NetConn returns the Go connection, nil once detached.
func (t *Transport) NetConn() net.Conn { return t.nc }

// Detached reports whether Detach was called.
func (t *Transport) Detached() bool { return t.nc == nil }

// SetFeed makes f the Transport's source and sink from now on.
func (t *Transport) SetFeed(f *Feed) { t.feed = f }

// Read is part of net.Conn. Detached, it takes ciphertext from the Feed
// and returns ErrWouldBlock when there is none.
func (t *Transport) Read(p []byte) (int, error) {
	if t.nc != nil {
		return t.nc.Read(p)
	}
	if t.feed == nil {
		return 0, ErrDetached
	}
	if len(t.feed.In) == 0 {
		return 0, ErrWouldBlock
	}
	n := copy(p, t.feed.In)
	t.feed.In = t.feed.In[n:]
	return n, nil
}

// Write is part of net.Conn. Detached, it appends p to the Feed's Out
// and never fails: the owner sends it, or keeps it until it can.
func (t *Transport) Write(p []byte) (int, error) {
	if t.nc != nil {
		return t.nc.Write(p)
	}
	if t.feed == nil {
		return 0, ErrDetached
	}
	t.feed.Out = append(t.feed.Out, p...)
	return len(p), nil
}

// Close is part of net.Conn. Detached, it does nothing: the socket
// belongs to the shard, which closes it.
func (t *Transport) Close() error {
	if t.nc != nil {
		return t.nc.Close()
	}
	return nil
}

// LocalAddr is part of net.Conn; nil once detached.
func (t *Transport) LocalAddr() net.Addr {
	if t.nc != nil {
		return t.nc.LocalAddr()
	}
	return (*net.TCPAddr)(nil)
}

// RemoteAddr is part of net.Conn; nil once detached.
func (t *Transport) RemoteAddr() net.Addr {
	if t.nc != nil {
		return t.nc.RemoteAddr()
	}
	return (*net.TCPAddr)(nil)
}

// SetDeadline is part of net.Conn. Detached, deadlines are the shard's
// timers, and this does nothing.
func (t *Transport) SetDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetDeadline(d)
	}
	return nil
}

// SetReadDeadline is part of net.Conn (see SetDeadline).
func (t *Transport) SetReadDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetReadDeadline(d)
	}
	return nil
}

// SetWriteDeadline is part of net.Conn (see SetDeadline).
func (t *Transport) SetWriteDeadline(d time.Time) error {
	if t.nc != nil {
		return t.nc.SetWriteDeadline(d)
	}
	return nil
}
