package codec_test

import (
	"fmt"

	"github.com/shoalws/shoal/codec"
)

// A client frame built, then decoded, checked and unmasked by a server.
func Example_frameRoundTrip() {
	// Client side: a masked text frame.
	h := codec.Header{Fin: true, Op: codec.OpText, Masked: true, Mask: [4]byte{0x37, 0xfa, 0x21, 0x3d}}
	wire := codec.AppendFrame(nil, h, []byte("Hello"))
	fmt.Printf("wire: % x\n", wire)

	// Server side: the bytes may arrive in pieces.
	_, need, err := codec.DecodeHeader(wire[:1])
	fmt.Println("after 1 byte:", err, "- header needs", need, "bytes")

	got, n, err := codec.DecodeHeader(wire)
	if err != nil {
		panic(err)
	}
	rules := codec.Rules{Role: codec.RoleServer, MaxPayload: 1 << 20}
	if err := rules.Check(got); err != nil {
		panic(err)
	}
	payload := wire[n : n+int(got.Length)]
	codec.Mask(got.Mask, 0, payload)

	var text codec.UTF8Validator
	text.Write(payload)
	fmt.Printf("%v fin=%v %q utf8=%v\n", got.Op, got.Fin, payload, text.Complete())
	// Output:
	// wire: 81 85 37 fa 21 3d 7f 9f 4d 51 58
	// after 1 byte: codec: need more input - header needs 2 bytes
	// text fin=true "Hello" utf8=true
}

// An unmasked frame from a client is a protocol error that names its
// close code.
func ExampleRules_Check() {
	h := codec.Header{Fin: true, Op: codec.OpBinary, Length: 3}
	err := codec.Rules{Role: codec.RoleServer}.Check(h)
	code, _ := codec.CloseCodeOf(err)
	fmt.Println(err)
	fmt.Println(code)
	// Output:
	// websocket: client frame is not masked
	// 1002 protocol error
}

// A close payload is parsed and echoed, as a peer answering a close does.
func ExampleParseClose() {
	code, reason, err := codec.ParseClose([]byte{0x03, 0xE9, 'b', 'y', 'e'})
	fmt.Println(code, string(reason), err)

	echo, _ := codec.AppendClosePayload(nil, code, "")
	fmt.Printf("% x\n", echo)
	// Output:
	// 1001 going away bye <nil>
	// 03 e9
}
