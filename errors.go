package shoal

import (
	"errors"

	"github.com/shoalws/shoal/codec"
	"github.com/shoalws/shoal/conn"
	"github.com/shoalws/shoal/shard"
)

// StatusCode is a close status code (RFC 6455 §7.4).
type StatusCode = codec.StatusCode

// CloseError is a close frame's code and reason.
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
