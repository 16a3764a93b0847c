// Package blocking compares WebSocket libraries used with blocking calls,
// a goroutine per connection: shoal's package stream, gorilla/websocket
// and coder/websocket. Each library talks to itself, client and server in
// one process over loopback TCP, so one `go test -bench` run measures
// them side by side on the same machine:
//
//	cd bench && go test -run '^$' -bench . -benchmem ./blocking/
//
// BenchmarkEcho is one message in flight, a round trip per op.
// BenchmarkStream1MiB streams 1 MiB messages one way, written through
// each library's streaming writer 32 KiB at a time (as io.Copy from a
// file does) and read through its streaming reader, which discards them.
// Allocations count both ends.
//
// The reactor (shoal.Server) is measured by the runner in bench/, against
// servers with a goroutine per connection; this package is the blocking
// client and server use that package stream serves.
package blocking

import (
	"context"
	"net"
	"net/http"
	"time"
)

// MaxMessage is what every server accepts, as in bench/peers.
const MaxMessage = 16 << 20

// Lib is one library in both roles.
type Lib struct {
	Name string
	// Handler serves a WebSocket: on path /echo every message comes back
	// as it was; on /drain every message is read through the library's
	// streaming reader and discarded, and a text message is answered
	// with an empty one, so a writer can tell all was read.
	Handler http.HandlerFunc
	// Dial opens a client connection to url.
	Dial func(ctx context.Context, url string) (Client, error)
}

// Client is one client connection of a library.
type Client interface {
	// RoundTrip sends p as a binary message and returns the echo.
	RoundTrip(p []byte) ([]byte, error)
	// Stream sends p as one binary message through the library's
	// streaming writer, chunk bytes per Write.
	Stream(p []byte, chunk int) error
	// Sync sends an empty text message and waits for the answer.
	Sync() error
	Close() error
}

// Libs are the libraries compared, in the order they are reported.
var Libs = []Lib{streamLib, gorillaLib, coderLib}

// Serve serves lib on a loopback port and returns its ws:// base URL and
// a function that stops it.
func Serve(lib Lib) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: lib.Handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "ws://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// drainBuf is what a draining server reads into.
const drainBuf = 64 << 10
