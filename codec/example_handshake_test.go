package codec_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shoalws/shoal/codec"
)

// A server reads a client's opening handshake, which may arrive in
// pieces, and answers it with 101 Switching Protocols.
func ExampleParseRequest() {
	in := []byte("GET /chat?room=lobby HTTP/1.1\r\n" +
		"Host: server.example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: keep-alive, Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Origin: http://example.com\r\n" +
		"Sec-WebSocket-Protocol: chat, superchat\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n" +
		"\x81\x85") // the client's first frame may follow at once

	var req codec.Request
	_, err := codec.ParseRequest(in[:40], 0, &req)
	fmt.Println("after 40 bytes:", err)

	n, err := codec.ParseRequest(in, 0, &req)
	if err != nil {
		fmt.Printf("%s", codec.AppendRejectError(nil, err))
		return
	}
	fmt.Printf("path %s, query %s, origin %s\n", req.Path, req.Query, req.Origin)
	fmt.Printf("%d bytes of frames follow the header\n", len(in)-n)

	protocol := req.SelectProtocol([]string{"superchat", "chat"})
	out := codec.AppendAccept(make([]byte, 0, 256), &req, protocol)
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n"))
	// Output:
	// after 40 bytes: codec: need more input
	// path /chat, query room=lobby, origin http://example.com
	// 2 bytes of frames follow the header
	// HTTP/1.1 101 Switching Protocols
	// Upgrade: websocket
	// Connection: Upgrade
	// Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// Sec-WebSocket-Protocol: chat
}

// A request the server can not accept gets an HTTP error response that
// tells the client why.
func ExampleAppendRejectError() {
	in := []byte("GET / HTTP/1.1\r\n" +
		"Host: server.example.com\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 8\r\n" +
		"\r\n")

	var req codec.Request
	_, err := codec.ParseRequest(in, 0, &req)
	fmt.Println(errors.Is(err, codec.ErrVersion))
	out := codec.AppendRejectError(nil, err)
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n"))
	// Output:
	// true
	// HTTP/1.1 426 Upgrade Required
	// Connection: Upgrade, close
	// Upgrade: websocket
	// Sec-WebSocket-Version: 13
	// Content-Type: text/plain; charset=utf-8
	// Content-Length: 33
	//
	// Sec-WebSocket-Version must be 13
}

// A client writes its opening handshake, then checks the server's answer.
func ExampleClientRequest() {
	c := codec.ClientRequest{
		Host:      "127.0.0.1:9001",
		Target:    "/chat",
		Key:       []byte("dGhlIHNhbXBsZSBub25jZQ=="), // use codec.NewKey() for a real connection
		Protocols: []string{"chat"},
	}
	out, err := c.Append(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(string(out), "\r\n", "\n"))

	in := []byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
		"Sec-WebSocket-Protocol: chat\r\n" +
		"\r\n")
	var resp codec.Response
	if _, err := codec.ParseResponse(in, 0, &resp); err != nil {
		fmt.Println(err)
		return
	}
	protocol, err := c.CheckResponse(&resp)
	fmt.Printf("status %d, protocol %q, err %v\n", resp.Status, protocol, err)
	// Output:
	// GET /chat HTTP/1.1
	// Host: 127.0.0.1:9001
	// Upgrade: websocket
	// Connection: Upgrade
	// Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
	// Sec-WebSocket-Version: 13
	// Sec-WebSocket-Protocol: chat
	//
	// status 101, protocol "chat", err <nil>
}

func ExampleAppendAcceptKey() {
	// The example from RFC 6455 §1.3.
	fmt.Printf("%s\n", codec.AppendAcceptKey(nil, []byte("dGhlIHNhbXBsZSBub25jZQ==")))
	// Output: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
}
