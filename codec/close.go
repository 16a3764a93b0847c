package codec

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// MaxCloseReason is the longest close reason that fits a control frame:
// 125 bytes of payload less the 2-byte code.
const MaxCloseReason = MaxControlPayload - 2

// Errors from building a close payload. They are the caller's mistakes,
// not the peer's, and carry no close code.
var (
	ErrCloseCodeNotSendable = errors.New("codec: close code may not be sent on the wire")
	ErrCloseReasonTooLong   = errors.New("codec: close reason longer than 123 bytes")
	ErrCloseReasonNotUTF8   = errors.New("codec: close reason is not valid UTF-8")
)

// ParseClose parses the payload of a close frame (RFC 6455 §5.5.1). An
// empty payload is legal and yields StatusNoStatusRcvd. reason aliases p.
// Errors are protocol errors that carry their close code:
// ErrClosePayload and ErrCloseCode (1002), ErrInvalidUTF8 (1007).
func ParseClose(p []byte) (code StatusCode, reason []byte, err error) {
	switch {
	case len(p) == 0:
		return StatusNoStatusRcvd, nil, nil
	case len(p) == 1:
		// "If there is a body, the first two bytes of the body MUST be a
		// 2-byte unsigned integer"
		return 0, nil, ErrClosePayload
	case len(p) > MaxControlPayload:
		return 0, nil, ErrControlTooLong
	}
	code = StatusCode(binary.BigEndian.Uint16(p))
	if !code.ValidOnWire() {
		return code, nil, ErrCloseCode
	}
	// "the data MUST be UTF-8 encoded" (§5.5.1)
	reason = p[2:]
	if !utf8.Valid(reason) {
		return code, nil, ErrInvalidUTF8
	}
	return code, reason, nil
}

// AppendClosePayload appends a close frame payload to dst. StatusNoStatusRcvd
// (or 0) with an empty reason appends nothing: a close frame with no body.
// Any other code must be ValidOnWire, and reason must be UTF-8 of at most
// MaxCloseReason bytes.
func AppendClosePayload(dst []byte, code StatusCode, reason string) ([]byte, error) {
	if (code == 0 || code == StatusNoStatusRcvd) && reason == "" {
		return dst, nil
	}
	if !code.ValidOnWire() {
		return dst, ErrCloseCodeNotSendable
	}
	if len(reason) > MaxCloseReason {
		return dst, ErrCloseReasonTooLong
	}
	if !utf8.ValidString(reason) {
		return dst, ErrCloseReasonNotUTF8
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...), nil
}
