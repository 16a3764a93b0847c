package codec

import (
	"errors"
	"strings"
	"testing"
)

func TestStatusCodeValidOnWire(t *testing.T) {
	valid := []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}
	invalid := []StatusCode{0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	for _, c := range valid {
		if !c.ValidOnWire() {
			t.Errorf("%d should be valid on the wire", c)
		}
	}
	for _, c := range invalid {
		if c.ValidOnWire() {
			t.Errorf("%d should be invalid on the wire", c)
		}
	}
}

func TestParseClose(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		code    StatusCode
		reason  string
		err     error
	}{
		{"empty body", nil, StatusNoStatusRcvd, "", nil},
		{"code only", []byte{0x03, 0xE8}, 1000, "", nil},
		{"code and reason", append([]byte{0x03, 0xE9}, "bye"...), 1001, "bye", nil},
		{"private code", []byte{0x0F, 0x9F}, 3999, "", nil},
		{"one byte", []byte{0x03}, 0, "", ErrClosePayload},
		{"code 0", []byte{0x00, 0x00}, 0, "", ErrCloseCode},
		{"code 999", []byte{0x03, 0xE7}, 0, "", ErrCloseCode},
		{"code 1004", []byte{0x03, 0xEC}, 0, "", ErrCloseCode},
		{"code 1005", []byte{0x03, 0xED}, 0, "", ErrCloseCode},
		{"code 1006", []byte{0x03, 0xEE}, 0, "", ErrCloseCode},
		{"code 1015", []byte{0x03, 0xF7}, 0, "", ErrCloseCode},
		{"code 1016", []byte{0x03, 0xF8}, 0, "", ErrCloseCode},
		{"code 2999", []byte{0x0B, 0xB7}, 0, "", ErrCloseCode},
		{"code 5000", []byte{0x13, 0x88}, 0, "", ErrCloseCode},
		{"code 65535", []byte{0xFF, 0xFF}, 0, "", ErrCloseCode},
		{"reason not UTF-8", append([]byte{0x03, 0xE8}, 0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64), 0, "", ErrInvalidUTF8},
		{"reason of 123", append([]byte{0x03, 0xE8}, strings.Repeat("r", 123)...), 1000, strings.Repeat("r", 123), nil},
		{"payload of 126", append([]byte{0x03, 0xE8}, strings.Repeat("r", 124)...), 0, "", ErrControlTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := ParseClose(tt.payload)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				want := StatusProtocolError
				if tt.err == ErrInvalidUTF8 {
					want = StatusInvalidData
				}
				if c, _ := CloseCodeOf(err); c != want {
					t.Errorf("close code = %v, want %v", c, want)
				}
				return
			}
			if code != tt.code || string(reason) != tt.reason {
				t.Errorf("got %v %q, want %v %q", code, reason, tt.code, tt.reason)
			}
		})
	}
}

func TestAppendClosePayload(t *testing.T) {
	tests := []struct {
		name   string
		code   StatusCode
		reason string
		want   []byte
		err    error
	}{
		{"no status", StatusNoStatusRcvd, "", nil, nil},
		{"zero code", 0, "", nil, nil},
		{"normal", 1000, "", []byte{0x03, 0xE8}, nil},
		{"going away with reason", 1001, "bye", []byte{0x03, 0xE9, 'b', 'y', 'e'}, nil},
		{"no status with a reason", StatusNoStatusRcvd, "x", nil, ErrCloseCodeNotSendable},
		{"1006 may not be sent", StatusAbnormal, "", nil, ErrCloseCodeNotSendable},
		{"1015 may not be sent", StatusTLSHandshake, "", nil, ErrCloseCodeNotSendable},
		{"reason too long", 1000, strings.Repeat("r", 124), nil, ErrCloseReasonTooLong},
		{"reason not UTF-8", 1000, "\xff", nil, ErrCloseReasonNotUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendClosePayload(nil, tt.code, tt.reason)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if string(got) != string(tt.want) {
				t.Fatalf("payload = % x, want % x", got, tt.want)
			}
			if err != nil {
				return
			}
			// It parses back to what was built.
			code, reason, err := ParseClose(got)
			if err != nil || string(reason) != tt.reason {
				t.Fatalf("ParseClose = %v %q %v", code, reason, err)
			}
		})
	}
}

func TestCloseCodeOf(t *testing.T) {
	if c, ok := CloseCodeOf(ErrInvalidUTF8); !ok || c != StatusInvalidData {
		t.Errorf("ErrInvalidUTF8 -> %v %v", c, ok)
	}
	wrapped := errors.Join(errors.New("reading conn 7"), &CloseError{Code: 4001, Reason: "kicked"})
	if c, ok := CloseCodeOf(wrapped); !ok || c != 4001 {
		t.Errorf("wrapped CloseError -> %v %v", c, ok)
	}
	if _, ok := CloseCodeOf(errors.New("plain")); ok {
		t.Error("plain error has no close code")
	}
	if got := (&CloseError{Code: 1000}).Error(); !strings.Contains(got, "1000") {
		t.Errorf("CloseError text %q lacks the code", got)
	}
}

func FuzzParseClose(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x03})
	f.Add([]byte{0x03, 0xE8, 'o', 'k'})
	f.Add([]byte{0x03, 0xED})
	f.Add([]byte{0x0F, 0xA0, 0xed, 0xa0, 0x80})
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := ParseClose(p)
		if err != nil {
			if _, ok := CloseCodeOf(err); !ok {
				t.Fatalf("error without a close code: %v", err)
			}
			return
		}
		if len(p) == 0 {
			if code != StatusNoStatusRcvd {
				t.Fatalf("empty payload gave %v", code)
			}
			return
		}
		if !code.ValidOnWire() {
			t.Fatalf("accepted code %d", code)
		}
		// A payload that parses can be rebuilt byte for byte.
		again, err := AppendClosePayload(nil, code, string(reason))
		if err != nil || string(again) != string(p) {
			t.Fatalf("rebuild of % x gave % x, %v", p, again, err)
		}
	})
}
