package codec

// This file negotiates permessage-deflate (RFC 7692): parsing the
// parameters of an offer or a response, choosing a server's answer, and
// writing both. Compressing and inflating are not the codec's business;
// internal/deflate does them.

// DeflateExtension is the extension name RFC 7692 registers.
const DeflateExtension = "permessage-deflate"

// Window sizes a permessage-deflate parameter may name: the LZ77 sliding
// window is 1<<bits bytes (RFC 7692 §7.1.2).
const (
	MinWindowBits = 8
	MaxWindowBits = 15
)

// DeflateParams are the parameters of one permessage-deflate offer or
// response (RFC 7692 §7.1). A window size of 0 means the parameter is
// absent. In an offer, client_max_window_bits without a value says the
// client can be told any size; it is held as 15, which allows exactly
// the same answers, and written back without a value.
type DeflateParams struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     uint8
	ClientMaxWindowBits     uint8
}

// ParseDeflateParams parses the parameters of a permessage-deflate
// element (what SplitExtension returns after the name; empty for none):
// an offer, or a server's response when response is true. It reports false for what
// RFC 7692 §7.1 has a server decline and a client fail on: a parameter
// not defined for that side, one given twice, or an invalid value. A
// value may be a token or a quoted-string (RFC 6455 §9.1). Nothing is
// allocated.
func ParseDeflateParams(params []byte, response bool) (DeflateParams, bool) {
	var p DeflateParams
	var seen uint8
	for more := len(params) > 0; more; {
		var param []byte
		param, params, more = cutByte(params, ';')
		name, value, hasValue := cutByte(trimOWS(param), '=')
		name = trimOWS(name)
		value = trimOWS(value)
		bit, ok := deflateParam(name)
		if !ok || seen&bit != 0 {
			// "The negotiation offer contains an extension parameter not
			// defined for use in an offer" / "... multiple extension
			// parameters with the same name."
			return DeflateParams{}, false
		}
		seen |= bit
		switch bit {
		case paramServerNoContext, paramClientNoContext:
			// These parameters have no value (§7.1.1.1, §7.1.1.2).
			if hasValue {
				return DeflateParams{}, false
			}
			if bit == paramServerNoContext {
				p.ServerNoContextTakeover = true
			} else {
				p.ClientNoContextTakeover = true
			}
		case paramServerBits:
			// §7.1.2.1: it "MUST" have a value, in an offer and a response.
			bits, ok := windowBits(value)
			if !hasValue || !ok {
				return DeflateParams{}, false
			}
			p.ServerMaxWindowBits = bits
		case paramClientBits:
			// §7.1.2.2: an offer may leave out the value; a response
			// "MUST" have one.
			if !hasValue {
				if response {
					return DeflateParams{}, false
				}
				p.ClientMaxWindowBits = MaxWindowBits
				continue
			}
			bits, ok := windowBits(value)
			if !ok {
				return DeflateParams{}, false
			}
			p.ClientMaxWindowBits = bits
		}
	}
	return p, true
}

const (
	paramServerNoContext uint8 = 1 << iota
	paramClientNoContext
	paramServerBits
	paramClientBits
)

func deflateParam(name []byte) (uint8, bool) {
	switch {
	case equalFold(name, "server_no_context_takeover"):
		return paramServerNoContext, true
	case equalFold(name, "client_no_context_takeover"):
		return paramClientNoContext, true
	case equalFold(name, "server_max_window_bits"):
		return paramServerBits, true
	case equalFold(name, "client_max_window_bits"):
		return paramClientBits, true
	}
	return 0, false
}

// windowBits parses a window size value: "a decimal integer value
// without leading zeroes between 8 to 15, inclusive", as a token or a
// quoted-string whose content is that (§7.1.2.1; RFC 6455 §9.1 allows
// the quoted form for every parameter value, and RFC 7230 quoted-pair
// escapes inside it).
func windowBits(v []byte) (uint8, bool) {
	var digits [2]byte
	n := 0
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		for i := 1; i < len(v)-1; i++ {
			c := v[i]
			if c == '\\' {
				i++
				if i == len(v)-1 {
					return 0, false
				}
				c = v[i]
			}
			if n == len(digits) {
				return 0, false
			}
			digits[n] = c
			n++
		}
	} else {
		if len(v) > len(digits) {
			return 0, false
		}
		n = copy(digits[:], v)
	}
	switch {
	case n == 1 && (digits[0] == '8' || digits[0] == '9'):
		return digits[0] - '0', true
	case n == 2 && digits[0] == '1' && '0' <= digits[1] && digits[1] <= '5':
		return 10 + digits[1] - '0', true
	}
	return 0, false
}

// DeflateConfig is what a server agrees to when it negotiates
// permessage-deflate: whether each side may keep its LZ77 window from one
// message to the next ("context takeover", RFC 7692 §7.1.1) and how large
// that window may be. Keeping a context costs memory for the whole life
// of a connection; the zero value keeps none.
type DeflateConfig struct {
	// ServerContextTakeover lets the server compress each message with
	// the previous ones as context, unless the client asks it not to.
	ServerContextTakeover bool
	// ClientContextTakeover lets the client do so, unless it offers not
	// to; the server then keeps the client's window to inflate with.
	ClientContextTakeover bool
	// ServerMaxWindowBits caps the server's compression window when it
	// keeps a context, 8 to 15 (0: 15). Below 15 it is announced with
	// server_max_window_bits.
	ServerMaxWindowBits uint8
	// ClientMaxWindowBits caps the client's window the server keeps when
	// the client takes over its context, 8 to 15 (0: 15). A client that
	// cannot be told a smaller window (it did not offer
	// client_max_window_bits) is told client_no_context_takeover instead.
	ClientMaxWindowBits uint8
}

func capBits(b uint8) uint8 {
	if b < MinWindowBits || b > MaxWindowBits {
		return MaxWindowBits
	}
	return b
}

// Accept answers one well-formed offer as RFC 7692 §7.1 lets a server,
// under cfg, and returns the response's parameters. A server may always say server_no_context_takeover
// and client_no_context_takeover, and server_max_window_bits, unasked
// (§7.1.1.1, §7.1.1.2, §7.1.2.1); it must grant a client's
// server_no_context_takeover, and a server_max_window_bits at or below
// the one offered; client_max_window_bits only if the client offered it.
func (cfg DeflateConfig) Accept(offer DeflateParams) DeflateParams {
	var resp DeflateParams
	resp.ServerNoContextTakeover = offer.ServerNoContextTakeover || !cfg.ServerContextTakeover
	// The cap bounds the context kept: without one, the full window
	// compresses best and costs nothing between messages.
	serverBits := uint8(MaxWindowBits)
	if !resp.ServerNoContextTakeover {
		serverBits = capBits(cfg.ServerMaxWindowBits)
	}
	if offer.ServerMaxWindowBits != 0 {
		serverBits = min(serverBits, offer.ServerMaxWindowBits)
	}
	if serverBits < MaxWindowBits || offer.ServerMaxWindowBits != 0 {
		resp.ServerMaxWindowBits = serverBits
	}

	clientBits := capBits(cfg.ClientMaxWindowBits)
	switch {
	case offer.ClientNoContextTakeover || !cfg.ClientContextTakeover:
		resp.ClientNoContextTakeover = true
	case offer.ClientMaxWindowBits != 0:
		resp.ClientMaxWindowBits = min(clientBits, offer.ClientMaxWindowBits)
	case clientBits < MaxWindowBits:
		// It would use a 32 KiB window, more than cfg lets us keep.
		resp.ClientNoContextTakeover = true
	}
	return resp
}

// NegotiateDeflate answers the first permessage-deflate offer in offers
// (an iterator over Sec-WebSocket-Extensions elements, such as
// Request.Extensions) that is well formed. Other
// extensions are skipped; a malformed offer is declined, as RFC 7692 §7.1
// says a server "MUST". It reports false when no offer is accepted.
// Nothing is allocated.
func NegotiateDeflate(offers Tokens, cfg DeflateConfig) (DeflateParams, bool) {
	for {
		elem, ok := offers.Next()
		if !ok {
			return DeflateParams{}, false
		}
		name, params := SplitExtension(elem)
		if !equalFold(name, DeflateExtension) {
			continue
		}
		if offer, ok := ParseDeflateParams(params, false); ok {
			return cfg.Accept(offer), true
		}
	}
}

// ExtensionList iterates the elements of one Sec-WebSocket-Extensions
// value, for callers that hold the header's value rather than a parsed
// Request (net/http's Header).
func ExtensionList(value []byte) Tokens { return Tokens{list: value} }

// AppendDeflate appends p as a permessage-deflate element:
// "permessage-deflate; server_no_context_takeover; ...". In an offer, a
// ClientMaxWindowBits of 15 is written without a value ("tell me any
// size").
func AppendDeflate(dst []byte, p DeflateParams, offer bool) []byte {
	dst = append(dst, DeflateExtension...)
	if p.ServerNoContextTakeover {
		dst = append(dst, "; server_no_context_takeover"...)
	}
	if p.ClientNoContextTakeover {
		dst = append(dst, "; client_no_context_takeover"...)
	}
	if p.ServerMaxWindowBits != 0 {
		dst = append(dst, "; server_max_window_bits="...)
		dst = appendBits(dst, p.ServerMaxWindowBits)
	}
	if p.ClientMaxWindowBits != 0 {
		dst = append(dst, "; client_max_window_bits"...)
		if !offer || p.ClientMaxWindowBits != MaxWindowBits {
			dst = append(dst, '=')
			dst = appendBits(dst, p.ClientMaxWindowBits)
		}
	}
	return dst
}

func appendBits(dst []byte, b uint8) []byte {
	b = min(max(b, MinWindowBits), MaxWindowBits)
	if b >= 10 {
		return append(dst, '1', '0'+b-10)
	}
	return append(dst, '0'+b)
}

// checkDeflateResponse applies RFC 7692 §7.1 to the permessage-deflate
// element a server accepted, for the client that offered offer: the
// response "MUST" have only parameters defined for it, once each, with
// valid values, and must grant what the offer asked
// (server_no_context_takeover, a server_max_window_bits at or below the
// one asked) and name client_max_window_bits only if it was offered.
func checkDeflateResponse(params []byte, offer DeflateParams) bool {
	resp, ok := ParseDeflateParams(params, true)
	switch {
	case !ok:
		return false
	case offer.ServerNoContextTakeover && !resp.ServerNoContextTakeover:
		return false
	case offer.ServerMaxWindowBits != 0 &&
		(resp.ServerMaxWindowBits == 0 || resp.ServerMaxWindowBits > offer.ServerMaxWindowBits):
		return false
	case resp.ClientMaxWindowBits != 0 &&
		(offer.ClientMaxWindowBits == 0 || resp.ClientMaxWindowBits > offer.ClientMaxWindowBits):
		return false
	}
	return true
}
