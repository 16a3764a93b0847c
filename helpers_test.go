package shoal_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/internal/wstest"
)

// httpMux routes /ws through a middleware to srv.Upgrade, attaching a
// user value the way an authenticating handler would.
func httpMux(t *testing.T, srv *shoal.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		srv.Upgrade(w, r, "user-42")
	})
	// A middleware that wraps the ResponseWriter, as logging ones do:
	// Upgrade must still reach the connection through Unwrap.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&loggingWriter{ResponseWriter: w}, r)
	})
}

type loggingWriter struct {
	http.ResponseWriter
	status int
}

func (w *loggingWriter) WriteHeader(code int)        { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *loggingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

type response struct {
	head   string
	client *wstest.Client
}

// readResponse reads an HTTP response head and wraps the rest of the
// stream as a WebSocket client.
func readResponse(t *testing.T, c net.Conn) response {
	t.Helper()
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading response: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	return response{head: head.String(), client: wstest.FromReader(c, br)}
}

// rawExchange sends raw bytes and returns what the server answers: a 101
// head, or everything up to the server closing the connection.
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c := rawConn(t, addr)
	c.Write([]byte(req))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
		if strings.HasPrefix(string(out), "HTTP/1.1 101") && strings.Contains(string(out), "\r\n\r\n") {
			return string(out)
		}
	}
}
