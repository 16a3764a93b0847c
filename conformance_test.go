package shoal_test

import (
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
			conformance.Run(t, addr, conformance.Options{Skip: map[string]string{
				"12": "permessage-deflate is not negotiated yet", "13": "permessage-deflate is not negotiated yet"}})
		})
	}
}
