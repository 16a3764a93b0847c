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
// against echo servers built on this package, with no case skipped (the
// compression groups 12 and 13 are skipped whole: see noDeflate): one
// behind net/http's Accept that echoes whole messages, one on Server over
// accepted TCP connections that streams each message back through
// NextReader and NextWriter as it arrives.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite takes a while")
	}
	t.Run("accept", func(t *testing.T) {
		addr := strings.TrimSuffix(strings.TrimPrefix(serveHTTP(t, echoOptions, echo), "ws://"), "/")
		conformance.Run(t, addr, conformance.Options{Skip: noDeflate})
	})
	t.Run("server-streaming", func(t *testing.T) {
		conformance.Run(t, serveConn(t, echoOptions, streamEcho), conformance.Options{Skip: noDeflate})
	})
}

// noDeflate skips the permessage-deflate groups: this package does not
// negotiate compression yet (internal/deflate has what it needs).
var noDeflate = map[string]string{
	"12": "stream does not negotiate permessage-deflate yet",
	"13": "stream does not negotiate permessage-deflate yet",
}
