package shoal_test

import (
	"fmt"
	"testing"

	"github.com/shoalws/shoal"
	"github.com/shoalws/shoal/internal/conformance"
)

// echoConfig is examples/echo's configuration: the conformance target.
func echoConfig(inline bool) shoal.Config {
	return shoal.Config{
		Inline:         inline,
		MaxMessageSize: 16 << 20,
		MaxOutbound:    17 << 20,
		Handler:        echo(),
		Compression:    shoal.Compression{Enabled: true},
	}
}

// TestConformance runs every case of the Autobahn groups 1-7, 9 and 10
// against shoal's echo configuration, with no case skipped, in both
// dispatch modes.
func TestConformance(t *testing.T) {
	for _, mode := range []struct {
		name   string
		inline bool
	}{{"inline", true}, {"pool", false}} {
		t.Run(mode.name, func(t *testing.T) {
			cfg := echoConfig(mode.inline)
			cfg.Shards = 2
			_, addr := start(t, cfg)
			conformance.Run(t, addr, conformance.Options{})
		})
	}
}

// TestConformanceContextTakeover runs the compression cases against a
// server that keeps a context both ways when the client allows it, with
// windows of 4 KiB, and one that compresses every message however short.
func TestConformanceContextTakeover(t *testing.T) {
	for _, c := range []shoal.Compression{
		{Enabled: true, ServerContextTakeover: true, ClientContextTakeover: true, WindowBits: 12},
		{Enabled: true, ServerContextTakeover: true, WindowBits: 9, Threshold: -1},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			cfg := echoConfig(false)
			cfg.Shards = 2
			cfg.Compression = c
			_, addr := start(t, cfg)
			conformance.Run(t, addr, conformance.Options{Only: []string{"12", "13"}})
		})
	}
}
