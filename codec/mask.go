package codec

import (
	"encoding/binary"
	"math/bits"
)

// Mask XORs b in place with the masking key (RFC 6455 §5.3), starting at
// key position pos, and returns the position to continue from: a payload
// that arrives in several reads is unmasked by passing each call's result
// to the next. Masking and unmasking are the same operation. pos is taken
// modulo 4.
func Mask(key [4]byte, pos int, b []byte) int {
	pos &= 3
	if len(b) < 8 {
		return maskBytes(key, pos, b)
	}
	// Rotate the key so that byte i of the little-endian word lines up
	// with key[(pos+i)%4]; a 64-bit word then covers two whole key periods
	// and the position is unchanged after each word.
	k32 := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*pos)
	k64 := uint64(k32) | uint64(k32)<<32

	for len(b) >= 32 {
		v0 := binary.LittleEndian.Uint64(b[0:8])
		v1 := binary.LittleEndian.Uint64(b[8:16])
		v2 := binary.LittleEndian.Uint64(b[16:24])
		v3 := binary.LittleEndian.Uint64(b[24:32])
		binary.LittleEndian.PutUint64(b[0:8], v0^k64)
		binary.LittleEndian.PutUint64(b[8:16], v1^k64)
		binary.LittleEndian.PutUint64(b[16:24], v2^k64)
		binary.LittleEndian.PutUint64(b[24:32], v3^k64)
		b = b[32:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	return maskBytes(key, pos, b)
}

// maskBytes is the byte-at-a-time loop: for short inputs and tails, and the
// reference the fast path is tested against.
func maskBytes(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[pos&3]
		pos++
	}
	return pos & 3
}
