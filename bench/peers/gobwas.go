package peers

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// gobwasServer is gobwas/ws at its usual level: ws.Upgrade on connections
// from a plain net.Listener, one goroutine per connection reading with a
// wsutil.Reader, frames written by hand.
type gobwasServer struct{}

// gobwasConn serializes writes: pongs and close replies from the reader,
// and broadcast frames from every other connection's reader.
type gobwasConn struct {
	mu sync.Mutex
	nc net.Conn
}

func (gobwasServer) Serve(addr string, o Options) (string, func(), error) {
	if o.Compress {
		return "", nil, ErrNoCompression
	}
	broadcast := o.Broadcast
	ln, err := o.listen(addr) // wss://: crypto/tls's tls.NewListener
	if err != nil {
		return "", nil, err
	}
	var conns connSet[*gobwasConn]
	go func() {
		for {
			nc, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			} else if err != nil { // EMFILE and such: wait, as net/http does
				time.Sleep(5 * time.Millisecond)
				continue
			}
			go gobwasServe(nc, &conns, broadcast)
		}
	}()
	stop := func() {
		_ = ln.Close()
		for _, c := range conns.list() {
			_ = c.nc.Close()
		}
	}
	return ln.Addr().String(), stop, nil
}

func gobwasServe(nc net.Conn, conns *connSet[*gobwasConn], broadcast bool) {
	defer nc.Close()
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	c := &gobwasConn{nc: nc}
	conns.add(c)
	defer conns.remove(c)
	ctl := wsutil.ControlFrameHandler(nc, ws.StateServerSide)
	onControl := func(h ws.Header, r io.Reader) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		return ctl(h, r)
	}
	rd := &wsutil.Reader{
		// Buffered, or every frame header costs two read syscalls.
		Source:         bufio.NewReader(nc),
		State:          ws.StateServerSide,
		MaxFrameSize:   MaxMessage,
		OnIntermediate: onControl, // control frames inside a fragmented message
	}
	for {
		hdr, err := rd.NextFrame()
		if err != nil {
			return
		}
		if hdr.OpCode.IsControl() {
			if err := onControl(hdr, rd); err != nil {
				return // a close was answered, or the conn failed
			}
			continue
		}
		var data []byte
		if hdr.Fin { // the usual single-frame message: one exact allocation
			data = make([]byte, hdr.Length)
			_, err = io.ReadFull(rd, data)
		} else {
			data, err = io.ReadAll(io.LimitReader(rd, MaxMessage+1))
			if err == nil && len(data) > MaxMessage {
				err = wsutil.ErrFrameTooLarge
			}
		}
		if err != nil {
			return
		}
		if !broadcast {
			c.mu.Lock()
			err = gobwasWrite(nc, hdr.OpCode, data)
			c.mu.Unlock()
			if err != nil {
				return
			}
			continue
		}
		// Encode the frame once; every connection writes the same bytes.
		frame, err := ws.CompileFrame(ws.NewFrame(hdr.OpCode, true, data))
		if err != nil {
			return
		}
		for _, o := range conns.list() {
			o.mu.Lock()
			_, _ = o.nc.Write(frame) // a failed peer's reader ends it
			o.mu.Unlock()
		}
	}
}

// gobwasWrite sends one unmasked frame in one writev (ws.WriteFrame would
// make two writes) without copying the payload.
func gobwasWrite(nc net.Conn, op ws.OpCode, p []byte) error {
	var hb [ws.MaxHeaderSize]byte
	w := bytes.NewBuffer(hb[:0])
	if err := ws.WriteHeader(w, ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}); err != nil {
		return err
	}
	bufs := net.Buffers{w.Bytes(), p}
	_, err := bufs.WriteTo(nc)
	return err
}
