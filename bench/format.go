package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// num formats a figure for a table: thousands grouped, and as many
// decimals as a figure of its size needs.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case a >= 100:
		return group(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// group puts a comma between every three digits of an integer.
func group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}

// compact formats an axis label: 0, 250, 1.5k, 20k, 1.2M.
func compact(v float64) string {
	trim := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trim(math.Round(v/1e5)/10) + "M"
	case a >= 1e3:
		return trim(math.Round(v/1e2)/10) + "k"
	default:
		return trim(math.Round(v*100) / 100)
	}
}

// latency formats microseconds in the unit that reads best.
func latency(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	case us < 1e6:
		return fmt.Sprintf("%.1f ms", us/1e3)
	default:
		return fmt.Sprintf("%.2f s", us/1e6)
	}
}

// bytesLabel is a payload size: 64 B, 1 KiB, 16 KiB, 1 MiB, 1500 B.
func bytesLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// ratio formats a ratio to the best other library.
func ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f×", r)
}
