package deflate

import "github.com/shoalws/shoal/codec"

// Direction is what one direction of a connection negotiated.
type Direction struct {
	// Takeover: each message is compressed with the ones before it as
	// context, so both ends keep a window between messages.
	Takeover bool
	// Bits: the sender's LZ77 window is at most 1<<Bits bytes (8 to 15).
	Bits uint8
}

// Params are a connection's permessage-deflate parameters as one end sees
// them: what it sends and what it receives.
type Params struct {
	Send, Recv Direction
}

// ForRole reads the negotiated response p from the side of role: a
// server sends with the server_ parameters and receives with the client_
// ones, a client the other way round. An absent window size is 15.
func ForRole(p codec.DeflateParams, role codec.Role) Params {
	server := Direction{Takeover: !p.ServerNoContextTakeover, Bits: bitsOr15(p.ServerMaxWindowBits)}
	client := Direction{Takeover: !p.ClientNoContextTakeover, Bits: bitsOr15(p.ClientMaxWindowBits)}
	if role == codec.RoleClient {
		return Params{Send: client, Recv: server}
	}
	return Params{Send: server, Recv: client}
}

func bitsOr15(b uint8) uint8 {
	if b < codec.MinWindowBits || b > codec.MaxWindowBits {
		return codec.MaxWindowBits
	}
	return b
}

// Stateless reports whether d needs nothing from one message to the next
// and uses the full window: its messages can be compressed by anyone,
// once, and shared.
func (d Direction) Stateless() bool { return !d.Takeover && d.Bits == codec.MaxWindowBits }
