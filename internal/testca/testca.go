// Package testca makes a throwaway certificate authority and a server
// certificate it signed, for TLS tests on loopback: servers get a
// tls.Config with the certificate, clients one that trusts only the CA,
// so every test checks the chain and the name as a real client would,
// without InsecureSkipVerify. Keys are ECDSA P-256: quick to make and to
// sign with.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority and one server certificate it issued for
// localhost, 127.0.0.1 and ::1.
type CA struct {
	// Pool holds the CA certificate alone: the roots a client trusts.
	Pool *x509.CertPool
	// Leaf is the server's certificate chain and key.
	Leaf tls.Certificate
	// CertPEM and KeyPEM are the server certificate and its key in PEM,
	// for programs that load files (-tls-cert, -tls-key).
	CertPEM, KeyPEM []byte
	// CAPEM is the CA certificate in PEM, for clients that load files.
	CAPEM []byte
}

// New makes a CA and a server certificate valid from an hour ago for a
// day.
func New() (*CA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "shoal test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	ca := &CA{
		Pool:    x509.NewCertPool(),
		Leaf:    tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CAPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
	ca.Pool.AddCert(caCert)
	return ca, nil
}

// ServerConfig returns a new server configuration with the certificate.
func (ca *CA) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.Leaf}}
}

// ClientConfig returns a new client configuration that trusts the CA
// alone and expects serverName: "localhost", "127.0.0.1" or "::1"; ""
// leaves it to clients that take it from the URL (tls.Dial, gorilla,
// net/http).
func (ca *CA) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: ca.Pool, ServerName: serverName}
}

// WriteFiles writes the server certificate and key as cert.pem and
// key.pem, and the CA as ca.pem, in dir, and returns their paths.
func (ca *CA) WriteFiles(dir string) (certFile, keyFile, caFile string, err error) {
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	caFile = filepath.Join(dir, "ca.pem")
	for _, f := range []struct {
		path string
		data []byte
	}{{certFile, ca.CertPEM}, {keyFile, ca.KeyPEM}, {caFile, ca.CAPEM}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return "", "", "", err
		}
	}
	return certFile, keyFile, caFile, nil
}
