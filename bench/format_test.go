package main

import (
	"math"
	"testing"
)

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{num(1234567.4), "1,234,567"},
		{num(-1234), "-1,234"},
		{num(999.5), "1,000"},
		{num(100), "100"},
		{num(18.63), "18.6"},
		{num(0.444), "0.44"},
		{num(math.NaN()), "-"},
		{compact(0), "0"},
		{compact(0.2), "0.2"},
		{compact(250), "250"},
		{compact(1500), "1.5k"},
		{compact(20000), "20k"},
		{compact(1.25e6), "1.3M"},
		{latency(803.2), "803 µs"},
		{latency(19400), "19.4 ms"},
		{latency(7.92e6), "7.92 s"},
		{bytesLabel(64), "64 B"},
		{bytesLabel(1024), "1 KiB"},
		{bytesLabel(16384), "16 KiB"},
		{bytesLabel(1 << 20), "1 MiB"},
		{bytesLabel(1500), "1500 B"},
		{ratio(2), "2.00×"},
		{ratio(math.NaN()), "-"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
