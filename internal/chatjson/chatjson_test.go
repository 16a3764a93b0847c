package chatjson

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestMessages(t *testing.T) {
	ms := Messages(1, 2000)
	kinds := map[string]int{}
	total := 0
	for i, m := range ms {
		var v struct{ Type string }
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatalf("message %d is not JSON: %v\n%s", i, err, m)
		}
		kinds[v.Type]++
		// A message ends at the word, element or member that reaches the
		// target, so it may pass MaxSize by one of those.
		if len(m) < MinSize || len(m) > MaxSize+150 {
			t.Errorf("message %d: %d bytes", i, len(m))
		}
		total += len(m)
	}
	if kinds["message"] < 1200 || kinds["presence"] < 200 || kinds["history"] < 100 {
		t.Errorf("mix of kinds: %v", kinds)
	}
	if avg := total / len(ms); avg < 600 || avg > 1000 {
		t.Errorf("average size %d", avg)
	}
	again := Messages(1, 2000)
	for i := range ms {
		if !bytes.Equal(ms[i], again[i]) {
			t.Fatalf("message %d differs for the same seed", i)
		}
	}
}
