package shoal

import (
	"errors"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/shard"
)

// StatusCode is a close status code (RFC 6455 §7.4), such as
// StatusNormalClosure (1000) or StatusPolicyViolation (1008). It is
// package codec's type, with two methods: String names the code ("1008
// policy violation"), and ValidOnWire reports whether a close frame may
// carry it (1000-1003, 1007-1014 and 3000-4999; 3000-3999 are registered
// with IANA, 4000-4999 are the application's own).
type StatusCode = codec.StatusCode

// CloseError is a close frame: the code and reason one side sent. It is
// package codec's type, a struct of two fields:
//
//	Code   StatusCode // the status code
//	Reason string     // at most 123 bytes of UTF-8; often empty
//
// and its Error method formats both ("websocket: closed: 1001 going
// away: server shutting down"). OnClose is given one, as its error, when
// the peer closed (its code), when this side closed first (ours), or,
// with Code 1006 and Reason "connection lost", when the connection
// dropped without a close frame. Read it with errors.As:
//
//	var ce *shoal.CloseError
//	if errors.As(err, &ce) && ce.Code == shoal.StatusGoingAway { ... }
type CloseError = codec.CloseError

// Close codes an application commonly sends.
const (
	StatusNormalClosure   = codec.StatusNormalClosure
	StatusGoingAway       = codec.StatusGoingAway
	StatusUnsupportedData = codec.StatusUnsupportedData
	StatusPolicyViolation = codec.StatusPolicy
	StatusMessageTooBig   = codec.StatusTooBig
	StatusInternalError   = codec.StatusInternal
	StatusTryAgainLater   = codec.StatusTryAgain
)

// Errors returned by Conn and Server methods.
var (
	// ErrClosed: the connection is closing or closed.
	ErrClosed = conn.ErrClosed
	// ErrOutboundFull: the connection's outbound queue is at its limit,
	// usually because the peer does not read. Only this connection is
	// affected; the message was not queued.
	ErrOutboundFull = conn.ErrOutboundFull
	// ErrServerClosed is returned by ListenAndServe and Serve after
	// Shutdown.
	ErrServerClosed = errors.New("shoal: server closed")
)

// Reasons a connection ends that OnClose may be given (compare with
// errors.Is).
var (
	// ErrMessageTimeout: the peer began a message and did not finish it
	// within Config.MessageTimeout; it was sent close 1008.
	ErrMessageTimeout = shard.ErrMessageTimeout
	// ErrWriteTimeout: output waited Config.WriteTimeout without the peer
	// taking a byte; the connection was dropped.
	ErrWriteTimeout = shard.ErrWriteTimeout
	// ErrPartialBudget: the peer's unfinished message needed memory while
	// Config.MaxPartialBytes was spent; it was sent close 1013.
	ErrPartialBudget = conn.ErrPartialBudget
)

// CloseCodeOf returns the close code an OnClose error carries.
func CloseCodeOf(err error) (StatusCode, bool) { return codec.CloseCodeOf(err) }
