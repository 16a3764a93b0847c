package stream_test

import (
	"strings"
	"testing"

	"github.com/shoalws/shoal/internal/conformance"
	"github.com/shoalws/shoal/stream"
)

// echoOptions are examples/echo's limits: the conformance suite sends
// messages up to 16 MiB.
var echoOptions = &stream.Options{MaxMessageSize: 16 << 20}

// TestConformance runs every case of the Autobahn groups 1-7, 9 and 10
// against echo servers built on this package, with no case skipped: one
// behind net/http's Accept that echoes whole messages, one on Server over
// accepted TCP connections that streams each message back through
// NextReader and NextWriter as it arrives.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite takes a while")
	}
	t.Run("accept", func(t *testing.T) {
		addr := strings.TrimSuffix(strings.TrimPrefix(serveHTTP(t, echoOptions, echo), "ws://"), "/")
		conformance.Run(t, addr, conformance.Options{})
	})
	t.Run("server-streaming", func(t *testing.T) {
		conformance.Run(t, serveConn(t, echoOptions, streamEcho), conformance.Options{})
	})
}
