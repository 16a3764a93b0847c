package stream_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shoalws/shoal/stream"
)

// TestTunnel64MiB carries 64 MiB of random bytes from a TCP client
// through a WebSocket tunnel to a TCP echo server and back, and checks
// what comes back by its SHA-256:
//
//	test --tcp--> entry --ws--> exit --tcp--> echo
//	test <--tcp-- entry <--ws-- exit <--tcp-- echo
//
// The entry and exit are nothing but io.Copy in each direction between a
// TCP connection and a stream.Conn. When the test hangs up, the close
// travels through the tunnel and every copy ends cleanly.
func TestTunnel64MiB(t *testing.T) {
	const size = 64 << 20
	var wg sync.WaitGroup
	copyErrs := make(chan error, 8)
	// pipe copies both ways between a and b; when either direction ends it
	// closes both, as a tunnel does.
	pipe := func(a, b net.Conn) {
		var once sync.Once
		done := func(err error) {
			copyErrs <- err
			once.Do(func() { a.Close(); b.Close() })
		}
		wg.Go(func() { _, err := io.Copy(a, b); done(err) })
		wg.Go(func() { _, err := io.Copy(b, a); done(err) })
	}

	echoLn := listen(t)
	wg.Go(func() {
		nc, err := echoLn.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		io.Copy(nc, nc)
	})

	exitURL := serveHTTPWith(t, func(w http.ResponseWriter, r *http.Request) {
		ws, err := stream.Accept(w, r, nil)
		if err != nil {
			return
		}
		tcp, err := net.Dial("tcp", echoLn.Addr().String())
		if err != nil {
			ws.Close()
			return
		}
		pipe(tcp, ws)
	})

	entryLn := listen(t)
	wg.Go(func() {
		nc, err := entryLn.Accept()
		if err != nil {
			return
		}
		ws, err := stream.Dial(context.Background(), "ws://"+exitURL+"/", nil)
		if err != nil {
			nc.Close()
			copyErrs <- err
			return
		}
		pipe(nc, ws)
	})

	nc, err := net.Dial("tcp", entryLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Minute))
	sent := sha256.New()
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(7, 7))
		buf := make([]byte, 100<<10)
		for left := size; left > 0; {
			b := buf[:min(left, 1+rng.IntN(len(buf)))]
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			sent.Write(b)
			if _, err := nc.Write(b); err != nil {
				copyErrs <- err
				return
			}
			left -= len(b)
		}
	})
	back := sha256.New()
	if n, err := io.CopyN(back, nc, size); err != nil {
		t.Fatalf("read %d bytes back: %v", n, err)
	}
	nc.Close()
	wg.Wait()
	close(copyErrs)
	if string(back.Sum(nil)) != string(sent.Sum(nil)) {
		t.Fatal("the bytes that came back are not the bytes sent")
	}
	// Each copy ends with nil (EOF) or with the close of the connection
	// its partner's end closed; a copy out of a stream.Conn must not end
	// with a protocol error or a lost connection.
	for err := range copyErrs {
		if errors.Is(err, stream.ErrConnLost) || isProtocolError(err) {
			t.Errorf("a tunnel copy ended with %v", err)
		}
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func isProtocolError(err error) bool {
	code := closeCode(err)
	return code != 0 && code != 1000 && code != 1005
}
