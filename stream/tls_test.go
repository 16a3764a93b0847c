package stream_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/stream"
)

// testCA makes a certificate authority and a certificate it signs for
// 127.0.0.1, both valid for an hour.
func testCA(t *testing.T) (roots *x509.CertPool, leaf tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "shoal test CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	return roots, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestWSS: Dial over wss:// to an https server whose handler Accepts: the
// certificate is checked against the test CA, the connection Accept takes
// over is a *tls.Conn, and messages and the close handshake go through
// TLS. Without the CA the dial fails on the certificate.
func TestWSS(t *testing.T) {
	roots, cert := testCA(t)
	tlsConns := make(chan bool, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_, isTLS := c.NetConn().(*tls.Conn)
		tlsConns <- isTLS
		echo(c)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	url := "wss://" + srv.Listener.Addr().String() + "/"

	c := dial(t, url, &stream.Options{TLSConfig: &tls.Config{RootCAs: roots}})
	if !<-tlsConns {
		t.Error("Accept's connection is not a *tls.Conn")
	}
	if _, ok := c.NetConn().(*tls.Conn); !ok {
		t.Error("Dial's connection is not a *tls.Conn")
	}
	for _, n := range sizes {
		if err := c.WriteMessage(codec.OpBinary, payload(n)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(); err != nil || !equal(p, payload(n)) {
			t.Fatalf("%d bytes: %d back, %v", n, len(p), err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	_, err := stream.Dial(context.Background(), url, nil)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("dial without the CA: %v", err)
	}
}
