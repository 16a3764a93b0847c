package shoal

import (
	"runtime"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/internal/deflate"
)

// Compression configures permessage-deflate (RFC 7692), which every
// browser offers and which shrinks chat-like JSON to about half. The
// zero value is off.
//
// Memory is what it is designed around. No connection keeps a
// compressor or an inflater: they are borrowed for one message, from a
// pool shared by the server (at most two per CPU plus one per shard; a
// message that finds none free goes uncompressed, which the RFC allows)
// and from each shard. By default neither side keeps a context between
// messages, so a compressed connection costs what a plain one does, and
// a message published to many is compressed once and the same frame
// shared by every subscriber that negotiated compression. Keeping a
// context (ServerContextTakeover, ClientContextTakeover) compresses
// better, at the cost of a window of 1<<WindowBits bytes per connection
// and direction, and, for the server's side, of compressing each
// message once per connection. DESIGN.md has the measurements.
type Compression struct {
	// Enabled negotiates permessage-deflate with every client that offers
	// it, and offers it when dialing.
	Enabled bool
	// Level is the compression level, 1 (fastest, the default) to 9
	// (smallest). Level 1 costs a third of level 5's CPU for 8% more
	// bytes on chat messages.
	Level int
	// Threshold is the size under which a message is sent uncompressed:
	// a message this short gains little. Default 128 bytes; negative
	// compresses everything.
	Threshold int
	// ServerContextTakeover keeps the server's compression context from
	// one message to the next on every connection that allows it. Each
	// such connection then has its messages compressed for it alone
	// (a published message too) and keeps a window.
	ServerContextTakeover bool
	// ClientContextTakeover lets clients keep their context; the server
	// keeps the window to inflate with. A client that cannot be told to
	// keep it within WindowBits is asked to keep none.
	ClientContextTakeover bool
	// WindowBits is the size of each context kept, 1<<WindowBits bytes,
	// 8 to 15. Default 9 (512 bytes). (For Dial, it bounds this side's
	// sending context; the server's is the window it announces.)
	WindowBits int
}

// Defaults for Compression.
const (
	DefaultCompressionThreshold = 128
	DefaultWindowBits           = 9
)

func (c Compression) windowBits() uint8 {
	if c.WindowBits < codec.MinWindowBits || c.WindowBits > codec.MaxWindowBits {
		return DefaultWindowBits
	}
	return uint8(c.WindowBits)
}

func (c Compression) threshold() int {
	switch {
	case c.Threshold < 0:
		return 0
	case c.Threshold == 0:
		return DefaultCompressionThreshold
	}
	return c.Threshold
}

// negotiate is what the server agrees to.
func (c Compression) negotiate() codec.DeflateConfig {
	cfg := codec.DeflateConfig{
		ServerContextTakeover: c.ServerContextTakeover,
		ClientContextTakeover: c.ClientContextTakeover,
	}
	if c.ServerContextTakeover {
		cfg.ServerMaxWindowBits = c.windowBits()
	}
	if c.ClientContextTakeover {
		cfg.ClientMaxWindowBits = c.windowBits()
	}
	return cfg
}

// offer is what Dial offers: no context either way unless asked, and
// any client window the server wants (we can keep to every size). It
// does not ask the server for a smaller window: gorilla, gws and nbio
// answer such an offer without server_max_window_bits, which RFC 7692
// says a client must fail on. A dialed connection that lets the server
// keep its context keeps the window the server announces, 32 KiB if
// none.
func (c Compression) offer() *codec.DeflateParams {
	return &codec.DeflateParams{
		ServerNoContextTakeover: !c.ServerContextTakeover,
		ClientNoContextTakeover: !c.ClientContextTakeover,
		ClientMaxWindowBits:     codec.MaxWindowBits,
	}
}

// params are the negotiated p as role uses them. A side that keeps its
// sending context keeps it within WindowBits even where the peer allows
// more: a smaller window is always the sender's to choose.
func (c Compression) params(p codec.DeflateParams, role codec.Role) deflate.Params {
	dp := deflate.ForRole(p, role)
	if dp.Send.Takeover {
		dp.Send.Bits = min(dp.Send.Bits, c.windowBits())
	}
	return dp
}

// connDeflate is the engine's compression policy for cfg, or nil.
func (c Compression) connDeflate(shards int) *conn.Deflate {
	if !c.Enabled {
		return nil
	}
	return &conn.Deflate{
		Negotiate: c.negotiate(),
		Threshold: c.threshold(),
		Pool:      deflate.NewPool(c.Level, 2*runtime.GOMAXPROCS(0)+shards),
	}
}
