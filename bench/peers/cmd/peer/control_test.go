package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestServeControl(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string // one pattern per answer line
	}{
		{"stats", "stats\n", []string{`^stats goroutines=[1-9][0-9]*$`}},
		{"stats with id", "stats 42\n", []string{`^stats id=42 goroutines=[1-9][0-9]*$`}},
		{"several, last without newline", "stats a\n  stats   b  \nstats c",
			[]string{`^stats id=a goroutines=\d+$`, `^stats id=b goroutines=\d+$`, `^stats id=c goroutines=\d+$`}},
		{"unknown", "quit\n", []string{`^error unknown command "quit"$`}},
		{"too many fields", "stats 1 2\n", []string{`^error unknown command "stats 1 2"$`}},
		{"empty line", "\n", []string{`^error empty command$`}},
		{"nothing", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out strings.Builder
			if err := serveControl(strings.NewReader(c.in), &out); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if out.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(c.want) {
				t.Fatalf("got %d lines %q, want %d", len(lines), lines, len(c.want))
			}
			for i, re := range c.want {
				if !regexp.MustCompile(re).MatchString(lines[i]) {
					t.Errorf("line %d: %q does not match %s", i, lines[i], re)
				}
			}
		})
	}
}
