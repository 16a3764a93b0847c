package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestLoadFindsNewestHistory: the stream keeps many more messages than a
// history, rooms interleaved; load finds each room's newest historySize,
// in order, whether the room is busy, quiet (its messages far apart
// among the others') or empty.
func TestLoadFindsNewestHistory(t *testing.T) {
	s := startWith(t, config{addr: "127.0.0.1:0"})
	st := s.app.store
	var futures []jetstream.PubAckFuture
	put := func(room, text string) {
		f, err := st.js.PublishAsync(msgPrefix+room, mustJSON(storedMessage{From: "test", Text: text}))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	const quiet, busy = 150, 6000
	for i := range busy {
		put("busy", fmt.Sprint(i))
		if i%(busy/quiet) == 0 {
			put("quiet", fmt.Sprint(i/(busy/quiet)))
		}
		if len(futures) == publishWindow {
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					t.Fatal(err)
				}
			}
			futures = futures[:0]
		}
	}
	<-st.js.PublishAsyncComplete()
	for room, n := range map[string]int{"busy": busy, "quiet": quiet, "empty": 0} {
		recs, err := st.load(room)
		if err != nil {
			t.Fatal(err)
		}
		want := min(n, historySize)
		if len(recs) != want {
			t.Fatalf("%s: loaded %d messages, want %d", room, len(recs), want)
		}
		for i, r := range recs {
			var m storedMessage
			json.Unmarshal(r.body, &m)
			if w := fmt.Sprint(n - want + i); m.Text != w || r.room != room || i > 0 && r.seq <= recs[i-1].seq {
				t.Fatalf("%s: message %d is %q (seq %d), want %q", room, i, m.Text, r.seq, w)
			}
		}
	}
	// The probes leave no consumers behind but the feed's.
	info, err := st.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "probe consumers to be deleted", func() bool {
		info, err = st.stream.Info(context.Background())
		return err == nil && info.State.Consumers == 1
	})
}
