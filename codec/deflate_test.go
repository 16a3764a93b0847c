package codec

import (
	"errors"
	"testing"
)

func TestParseDeflateParams(t *testing.T) {
	type P = DeflateParams
	tests := []struct {
		params   string
		response bool
		want     P
		ok       bool
	}{
		{"", false, P{}, true},
		{"client_max_window_bits", false, P{ClientMaxWindowBits: 15}, true},
		{"client_max_window_bits", true, P{}, false}, // a response must give the value
		{"client_max_window_bits=10", true, P{ClientMaxWindowBits: 10}, true},
		{"server_no_context_takeover; client_no_context_takeover", false,
			P{ServerNoContextTakeover: true, ClientNoContextTakeover: true}, true},
		{"Server_No_Context_Takeover", false, P{ServerNoContextTakeover: true}, true},
		{"server_max_window_bits=8", false, P{ServerMaxWindowBits: 8}, true},
		{"server_max_window_bits=15; client_max_window_bits=9", true, P{ServerMaxWindowBits: 15, ClientMaxWindowBits: 9}, true},
		{` server_max_window_bits = "12" ;client_max_window_bits`, false, P{ServerMaxWindowBits: 12, ClientMaxWindowBits: 15}, true},
		{`server_max_window_bits="1\3"`, false, P{ServerMaxWindowBits: 13}, true}, // quoted-pair
		{"server_max_window_bits", false, P{}, false},
		{"server_max_window_bits=", false, P{}, false},
		{"server_max_window_bits=7", false, P{}, false},
		{"server_max_window_bits=16", false, P{}, false},
		{"server_max_window_bits=010", false, P{}, false}, // "without leading zeroes"
		{"server_max_window_bits=0x9", false, P{}, false},
		{`server_max_window_bits="10`, false, P{}, false},
		{`server_max_window_bits="\"`, false, P{}, false},
		{`server_max_window_bits=""`, false, P{}, false},
		{"server_no_context_takeover=1", false, P{}, false},
		{"server_no_context_takeover; server_no_context_takeover", false, P{}, false},
		{"client_max_window_bits; client_max_window_bits=10", false, P{}, false},
		{"x_unknown", false, P{}, false},
		{"server_no_context_takeover;", false, P{}, false},
		{";", false, P{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseDeflateParams([]byte(tt.params), tt.response)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseDeflateParams(%q, response %v) = %+v, %v; want %+v, %v",
				tt.params, tt.response, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDeflateAccept(t *testing.T) {
	type P = DeflateParams
	noContext := P{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	keepBoth := DeflateConfig{ServerContextTakeover: true, ClientContextTakeover: true}
	tests := []struct {
		name  string
		cfg   DeflateConfig
		offer P
		want  P
	}{
		// The default keeps no context on either side, asked or not.
		{"browser offer, default", DeflateConfig{}, P{ClientMaxWindowBits: 15}, noContext},
		{"bare offer, default", DeflateConfig{}, P{}, noContext},
		{"asks a small server window", DeflateConfig{}, P{ServerMaxWindowBits: 9},
			P{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 9}},
		{"context kept both ways", keepBoth, P{ClientMaxWindowBits: 15}, P{ClientMaxWindowBits: 15}},
		{"client keeps a window we cap", DeflateConfig{ClientContextTakeover: true, ClientMaxWindowBits: 10},
			P{ClientMaxWindowBits: 15}, P{ServerNoContextTakeover: true, ClientMaxWindowBits: 10}},
		{"client offers a smaller window than our cap", DeflateConfig{ClientContextTakeover: true, ClientMaxWindowBits: 12},
			P{ClientMaxWindowBits: 9}, P{ServerNoContextTakeover: true, ClientMaxWindowBits: 9}},
		// Without client_max_window_bits the client would use 32 KiB,
		// more than the cap lets us keep: it is told to keep none.
		{"client cannot be told a window", DeflateConfig{ClientContextTakeover: true, ClientMaxWindowBits: 10},
			P{}, noContext},
		{"client offers no context itself", keepBoth, P{ClientNoContextTakeover: true, ClientMaxWindowBits: 15},
			P{ClientNoContextTakeover: true}},
		{"client asks us for no context", keepBoth, P{ServerNoContextTakeover: true}, P{ServerNoContextTakeover: true}},
		// Without a context the cap does not apply: a full window.
		{"no context, our window cap unused", DeflateConfig{ServerContextTakeover: true, ServerMaxWindowBits: 10},
			P{ServerNoContextTakeover: true}, P{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
		{"our window is announced", DeflateConfig{ServerContextTakeover: true, ServerMaxWindowBits: 10}, P{},
			P{ClientNoContextTakeover: true, ServerMaxWindowBits: 10}},
		{"the smaller of two server windows", DeflateConfig{ServerContextTakeover: true, ServerMaxWindowBits: 10},
			P{ServerMaxWindowBits: 12}, P{ClientNoContextTakeover: true, ServerMaxWindowBits: 10}},
		{"out of range caps mean 15", DeflateConfig{ServerContextTakeover: true, ServerMaxWindowBits: 20}, P{},
			P{ClientNoContextTakeover: true}},
	}
	for _, tt := range tests {
		got := tt.cfg.Accept(tt.offer)
		if got != tt.want {
			t.Errorf("%s: Accept(%+v) = %+v, want %+v", tt.name, tt.offer, got, tt.want)
		}
		// Whatever the server answers, a client that offered it accepts.
		if !checkDeflateResponse(paramsOf(AppendDeflate(nil, got, false)), tt.offer) {
			t.Errorf("%s: a client rejects the answer %s", tt.name, AppendDeflate(nil, got, false))
		}
	}
}

func TestNegotiateDeflate(t *testing.T) {
	tests := []struct {
		header string
		want   string // the answer, "" for none
	}{
		{"permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"x-webkit-deflate-frame, permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		// The first offer is malformed and declined; the second is taken.
		{"permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=10",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"},
		{`PerMessage-Deflate; server_max_window_bits="9"`,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"},
		{"permessage-deflate; foo=1", ""},
		{"permessage-deflate-x, deflate", ""},
		{"", ""},
	}
	for _, tt := range tests {
		p, ok := NegotiateDeflate(ExtensionList([]byte(tt.header)), DeflateConfig{})
		got := ""
		if ok {
			got = string(AppendDeflate(nil, p, false))
		}
		if got != tt.want {
			t.Errorf("NegotiateDeflate(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestRequestNegotiateDeflate(t *testing.T) {
	var req Request
	if _, err := ParseRequest([]byte(chromeRequest), 0, &req); err != nil {
		t.Fatal(err)
	}
	cfg := DeflateConfig{ClientContextTakeover: true, ClientMaxWindowBits: 9}
	p, ok := req.NegotiateDeflate(cfg)
	if !ok || p != (DeflateParams{ServerNoContextTakeover: true, ClientMaxWindowBits: 9}) {
		t.Fatalf("Chrome's offer: %+v, %v", p, ok)
	}
	resp := string(AppendAcceptDeflate(nil, &req, "", p))
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + string(AppendAcceptKey(nil, req.Key)) + "\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=9\r\n\r\n"
	if resp != want {
		t.Errorf("response:\n%q\nwant\n%q", resp, want)
	}
	if allocs := testing.AllocsPerRun(100, func() { req.NegotiateDeflate(cfg) }); allocs != 0 && !raceEnabled {
		t.Errorf("NegotiateDeflate: %v allocations, want 0", allocs)
	}
}

func TestAppendDeflateOffer(t *testing.T) {
	p := DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 15}
	want := "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits"
	if got := string(AppendDeflate(nil, p, true)); got != want {
		t.Errorf("offer %q, want %q", got, want)
	}
	back, ok := ParseDeflateParams(paramsOf([]byte(want)), false)
	if !ok || back != p {
		t.Errorf("offer parsed back: %+v, %v", back, ok)
	}
}

func TestClientDeflate(t *testing.T) {
	offer := &DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ClientMaxWindowBits: 15}
	c := rfcClient()
	c.Deflate = offer
	req, err := c.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	var parsed Request
	if _, err := ParseRequest(req, 0, &parsed); err != nil {
		t.Fatal(err)
	}
	if p, ok := parsed.NegotiateDeflate(DeflateConfig{}); !ok || p != (DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}) {
		t.Fatalf("the server reads our offer as %+v, %v", p, ok)
	}

	ext := func(v string) string { return editResponse("\r\n\r\n", "\r\nSec-WebSocket-Extensions: "+v+"\r\n\r\n") }
	tests := []struct {
		name  string
		offer *DeflateParams
		resp  string
		err   error
		want  DeflateParams
	}{
		{"accepted", offer, ext("permessage-deflate; server_no_context_takeover; client_no_context_takeover"), nil,
			DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
		{"accepted with a client window", offer, ext("permessage-deflate; server_no_context_takeover; client_max_window_bits=9"), nil,
			DeflateParams{ServerNoContextTakeover: true, ClientMaxWindowBits: 9}},
		{"declined", offer, validResponse, nil, DeflateParams{}},
		{"server keeps context we asked it not to", offer, ext("permessage-deflate"), ErrBadExtension, DeflateParams{}},
		{"client window without a value", offer, ext("permessage-deflate; server_no_context_takeover; client_max_window_bits"), ErrBadExtension, DeflateParams{}},
		{"client window not offered", &DeflateParams{}, ext("permessage-deflate; client_max_window_bits=10"), ErrBadExtension, DeflateParams{}},
		{"server window over the one asked", &DeflateParams{ServerMaxWindowBits: 10}, ext("permessage-deflate; server_max_window_bits=11"), ErrBadExtension, DeflateParams{}},
		{"server window left out when asked", &DeflateParams{ServerMaxWindowBits: 10}, ext("permessage-deflate"), ErrBadExtension, DeflateParams{}},
		{"server window smaller than asked", &DeflateParams{ServerMaxWindowBits: 10}, ext("permessage-deflate; server_max_window_bits=9"), nil,
			DeflateParams{ServerMaxWindowBits: 9}},
		{"unknown parameter", offer, ext("permessage-deflate; server_no_context_takeover; x=1"), ErrBadExtension, DeflateParams{}},
		{"twice", offer, ext("permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover"), ErrBadExtension, DeflateParams{}},
		{"another extension", offer, ext("x-webkit-deflate-frame"), ErrBadExtension, DeflateParams{}},
		{"not offered", nil, ext("permessage-deflate"), ErrBadExtension, DeflateParams{}},
	}
	for _, tt := range tests {
		c := rfcClient()
		c.Deflate = tt.offer
		var resp Response
		if _, err := ParseResponse([]byte(tt.resp), 0, &resp); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		_, err := c.CheckResponse(&resp)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: CheckResponse = %v, want %v", tt.name, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		got, ok := resp.Deflate()
		if ok != (tt.want != DeflateParams{} || tt.resp != validResponse) || got != tt.want {
			t.Errorf("%s: Deflate() = %+v, %v; want %+v", tt.name, got, ok, tt.want)
		}
	}
}

func TestRulesCompressedBit(t *testing.T) {
	pmd := Rules{Role: RoleServer, Rsv: Rsv1}
	tests := []struct {
		rules Rules
		h     Header
		err   error
	}{
		{pmd, Header{Fin: true, Op: OpText, Rsv: Rsv1, Masked: true}, nil},
		{pmd, Header{Op: OpBinary, Rsv: Rsv1, Masked: true}, nil},
		{pmd, Header{Fin: true, Op: OpContinuation, Rsv: Rsv1, Masked: true}, ErrMisplacedRsv1},
		{pmd, Header{Fin: true, Op: OpPing, Rsv: Rsv1, Masked: true}, ErrMisplacedRsv1},
		{pmd, Header{Fin: true, Op: OpClose, Rsv: Rsv1, Masked: true}, ErrMisplacedRsv1},
		{pmd, Header{Fin: true, Op: OpText, Rsv: Rsv2, Masked: true}, ErrReservedBits},
		{Rules{Role: RoleServer}, Header{Fin: true, Op: OpText, Rsv: Rsv1, Masked: true}, ErrReservedBits},
	}
	for _, tt := range tests {
		if err := tt.rules.Check(tt.h); err != tt.err {
			t.Errorf("%+v under %+v: %v, want %v", tt.h, tt.rules, err, tt.err)
		}
	}
}

// FuzzDeflateParams checks the parser on anything, and that what a
// server answers to an offer it parsed is an answer that offer's client
// accepts.
func FuzzDeflateParams(f *testing.F) {
	for _, s := range []string{"", "client_max_window_bits", "server_no_context_takeover; client_no_context_takeover",
		`server_max_window_bits="1\0"; client_max_window_bits=9`, "server_max_window_bits=8", "x;;y=\"", "client_max_window_bits=15"} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, params []byte, cfgBits uint8) {
		resp, respOK := ParseDeflateParams(params, true)
		offer, ok := ParseDeflateParams(params, false)
		if respOK && !ok {
			t.Fatalf("%q parses as a response but not as an offer", params)
		}
		for _, p := range []DeflateParams{resp, offer} {
			for _, b := range []uint8{p.ServerMaxWindowBits, p.ClientMaxWindowBits} {
				if b != 0 && (b < MinWindowBits || b > MaxWindowBits) {
					t.Fatalf("%q: window bits %d", params, b)
				}
			}
		}
		if !ok {
			return
		}
		cfg := DeflateConfig{
			ServerContextTakeover: cfgBits&1 != 0, ClientContextTakeover: cfgBits&2 != 0,
			ServerMaxWindowBits: 8 + (cfgBits>>2)&7, ClientMaxWindowBits: 8 + (cfgBits>>5)&7,
		}
		answer := cfg.Accept(offer)
		if !checkDeflateResponse(paramsOf(AppendDeflate(nil, answer, false)), offer) {
			t.Fatalf("offer %q under %+v: the answer %s is not valid for it", params, cfg, AppendDeflate(nil, answer, false))
		}
		back, ok := ParseDeflateParams(paramsOf(AppendDeflate(nil, offer, true)), false)
		if !ok || back != offer {
			t.Fatalf("offer %q written back and parsed: %+v, %v; want %+v", params, back, ok, offer)
		}
	})
}

// paramsOf is the parameter part of an extension element.
func paramsOf(elem []byte) []byte {
	_, params := SplitExtension(elem)
	return params
}
