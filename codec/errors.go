package codec

import (
	"errors"
	"strconv"
)

// ErrNeedMore reports that the input ends before the thing being decoded
// does. It is not a failure: the caller reads more bytes and calls again.
var ErrNeedMore = errors.New("codec: need more input")

// StatusCode is a WebSocket close status code (RFC 6455 §7.4).
type StatusCode uint16

// Close status codes registered with IANA. The comments say who may put
// each one on the wire.
const (
	StatusNormalClosure   StatusCode = 1000
	StatusGoingAway       StatusCode = 1001
	StatusProtocolError   StatusCode = 1002
	StatusUnsupportedData StatusCode = 1003
	// 1004 is reserved and never sent.
	StatusNoStatusRcvd StatusCode = 1005 // never sent: "the close frame had no code"
	StatusAbnormal     StatusCode = 1006 // never sent: "the connection dropped without a close frame"
	StatusInvalidData  StatusCode = 1007 // RFC name: "invalid frame payload data"
	StatusPolicy       StatusCode = 1008
	StatusTooBig       StatusCode = 1009
	StatusMandatoryExt StatusCode = 1010
	StatusInternal     StatusCode = 1011
	StatusRestart      StatusCode = 1012
	StatusTryAgain     StatusCode = 1013
	StatusBadGateway   StatusCode = 1014
	StatusTLSHandshake StatusCode = 1015 // never sent
)

// ValidOnWire reports whether c may appear in a close frame.
//
// RFC 6455 §7.4: codes 1004, 1005, 1006 and 1015 "MUST NOT be set as a
// status code in a Close control frame"; 0-999 are unused; 1000-2999 are
// for the protocol and its extensions; 3000-3999 are registered with IANA
// for libraries and applications; 4000-4999 are private. We accept the
// codes IANA has registered since the RFC (1012 service restart, 1013 try
// again later, 1014 bad gateway) because servers do send them and a
// client that failed on them would turn a restart into a protocol error.
func (c StatusCode) ValidOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

func (c StatusCode) String() string {
	switch c {
	case StatusNormalClosure:
		return "1000 normal closure"
	case StatusGoingAway:
		return "1001 going away"
	case StatusProtocolError:
		return "1002 protocol error"
	case StatusUnsupportedData:
		return "1003 unsupported data"
	case StatusNoStatusRcvd:
		return "1005 no status received"
	case StatusAbnormal:
		return "1006 abnormal closure"
	case StatusInvalidData:
		return "1007 invalid payload data"
	case StatusPolicy:
		return "1008 policy violation"
	case StatusTooBig:
		return "1009 message too big"
	case StatusMandatoryExt:
		return "1010 mandatory extension"
	case StatusInternal:
		return "1011 internal error"
	case StatusRestart:
		return "1012 service restart"
	case StatusTryAgain:
		return "1013 try again later"
	case StatusBadGateway:
		return "1014 bad gateway"
	case StatusTLSHandshake:
		return "1015 TLS handshake"
	}
	return strconv.Itoa(int(c))
}

// ProtocolError is a violation of RFC 6455 by the peer. The connection
// must be failed, with Code in the close frame. The codec returns the
// package's sentinel values (ErrUnmaskedFrame and friends), so callers
// compare with errors.Is and nothing is allocated on the error path.
type ProtocolError struct {
	Code   StatusCode
	Reason string
}

func (e *ProtocolError) Error() string { return "websocket: " + e.Reason }

// CloseError is a close frame: the code and reason one side sent.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "websocket: closed: " + e.Code.String()
	}
	return "websocket: closed: " + e.Code.String() + ": " + e.Reason
}

// CloseCodeOf returns the close code that err calls for: the Code of a
// ProtocolError or CloseError in err's chain, or false if there is none.
func CloseCodeOf(err error) (StatusCode, bool) {
	// The common, unwrapped cases first: errors.As allocates its target.
	switch e := err.(type) {
	case *ProtocolError:
		return e.Code, true
	case *CloseError:
		return e.Code, true
	case nil:
		return 0, false
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Code, true
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code, true
	}
	return 0, false
}

// Protocol errors found while decoding frames. Each carries the close code
// RFC 6455 asks for.
var (
	ErrReservedOpcode    = &ProtocolError{StatusProtocolError, "reserved opcode"}
	ErrReservedBits      = &ProtocolError{StatusProtocolError, "RSV bit set without a negotiated extension"}
	ErrMisplacedRsv1     = &ProtocolError{StatusProtocolError, "compressed bit on a control frame or a continuation"}
	ErrUnmaskedFrame     = &ProtocolError{StatusProtocolError, "client frame is not masked"}
	ErrMaskedFrame       = &ProtocolError{StatusProtocolError, "server frame is masked"}
	ErrControlTooLong    = &ProtocolError{StatusProtocolError, "control frame payload over 125 bytes"}
	ErrControlFragmented = &ProtocolError{StatusProtocolError, "fragmented control frame"}
	ErrLengthOverflow    = &ProtocolError{StatusProtocolError, "64-bit payload length has its top bit set"}
	ErrNonMinimalLength  = &ProtocolError{StatusProtocolError, "payload length not in its minimal encoding"}
	ErrFrameTooBig       = &ProtocolError{StatusTooBig, "frame payload over the size limit"}
	ErrClosePayload      = &ProtocolError{StatusProtocolError, "close frame payload of one byte"}
	ErrCloseCode         = &ProtocolError{StatusProtocolError, "invalid close code"}
	ErrInvalidUTF8       = &ProtocolError{StatusInvalidData, "invalid UTF-8"}

	// Rules across frames, for the connection that reassembles messages.
	ErrUnexpectedContinuation = &ProtocolError{StatusProtocolError, "continuation frame with no message to continue"}
	ErrExpectedContinuation   = &ProtocolError{StatusProtocolError, "new data frame inside a fragmented message"}
	ErrMessageTooBig          = &ProtocolError{StatusTooBig, "message over the size limit"}
	// ErrBadCompressed: a compressed message that does not inflate (RFC
	// 7692 gives no code; its payload is inconsistent with the message,
	// which is what 1007 says).
	ErrBadCompressed = &ProtocolError{StatusInvalidData, "invalid compressed data"}
)
