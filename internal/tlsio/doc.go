// Package tlsio lets a standard crypto/tls connection live on a reactor
// shard without a goroutine of its own.
//
// A tls.Conn reads and writes through the net.Conn it was made with. A
// Transport is that net.Conn, in two phases. Until Detach it passes every
// call to a Go connection, so the handshake runs on an ordinary blocking
// socket (on a short-lived goroutine: crypto/tls's handshake errors are
// sticky, so it cannot be fed piecemeal). After Detach it is fed by its
// owner through a Feed: Read takes ciphertext the owner read from the
// socket and, when there is none left, fails with ErrWouldBlock, which
// crypto/tls treats as a temporary error: it keeps the partial record it
// holds and the connection stays usable (crypto/tls conn.go,
// readRecordOrCCS). Write appends what crypto/tls sealed (records, alerts,
// key updates) to the Feed for the owner to send.
//
// The behaviours of crypto/tls this relies on are pinned by the package's
// tests, so that a Go release that changes them fails here first.
package tlsio
