package main

import (
	"crypto/tls"
	"errors"
)

// loadTLS reads the certificate and key given by -tls-cert and -tls-key:
// with them the chat serves its page and /ws over https and wss on one
// port (shoal.NewTLSListener), and the shards decrypt the WebSockets.
// Neither given: plain http, nil.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("chat: -tls-cert and -tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}
