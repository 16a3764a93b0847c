// Package chatjson makes chat-like JSON messages for compression tests and
// benchmarks: what a chat backend sends (messages with sender, room, ids
// and timestamps, presence lists, history batches), 200 to 2,000 bytes,
// with the repetition of real traffic (the same keys, rooms and names
// over and over, English-like text from a skewed vocabulary) and the
// entropy it also has (ids, timestamps, free text). The output is
// deterministic for a seed, so measurements can be repeated.
package chatjson

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Sizes of the messages Messages makes.
const (
	MinSize = 200
	MaxSize = 2000
)

var (
	names = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
		"ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent",
		"victor", "walter", "yasmin", "zoe", "liang", "amara", "kofi", "sofia", "mateo"}
	rooms  = []string{"lobby", "general", "random", "dev", "support", "ops", "design", "sales"}
	status = []string{"online", "online", "online", "away", "busy"}
	// words: a vocabulary drawn from with a Zipf-like skew, as text is.
	words = strings.Fields(`the a to and of is in it you that i for on with this be are
		was have not we but at can what so just do if my all will your about
		get they there one up out like know think now when no good time how
		me deploy build test fix merge release today tomorrow meeting review
		please thanks yes ok sure maybe later lunch coffee server client error
		log message room channel update check looks great nice done working
		issue ticket branch main prod staging latency memory cpu dashboard
		alert page call sync notes doc link shared figure numbers week friday
		monday morning afternoon question answer idea plan team customer
		feature bug crash restart config cluster node shard queue broadcast`)
)

// Generator makes messages; it is not safe for concurrent use.
type Generator struct {
	r    *rand.Rand
	zipf *rand.Zipf
	seq  int
	ts   int64
}

// New returns a generator whose output depends only on seed.
func New(seed uint64) *Generator {
	r := rand.New(rand.NewPCG(seed, 0xc4a7))
	return &Generator{
		r:    r,
		zipf: rand.NewZipf(r, 1.1, 2, uint64(len(words)-1)),
		ts:   1795000000000 + int64(seed%1000)*1000,
	}
}

// Messages returns n messages of seed's sequence.
func Messages(seed uint64, n int) [][]byte {
	g := New(seed)
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// Next returns the next message: mostly chat messages, some presence
// lists and history batches, sized log-uniformly in [MinSize, MaxSize].
func (g *Generator) Next() []byte {
	target := int(math.Exp(math.Log(MinSize) + g.r.Float64()*(math.Log(MaxSize)-math.Log(MinSize))))
	g.seq++
	g.ts += 200 + g.r.Int64N(4000)
	var b []byte
	switch k := g.r.IntN(10); {
	case k < 7:
		b = g.chat(nil, target)
	case k < 9:
		b = g.presence(target)
	default:
		b = g.history(target)
	}
	return b
}

func (g *Generator) pick(list []string) string { return list[g.r.IntN(len(list))] }

// user appends a sender object.
func (g *Generator) user(b []byte) []byte {
	i := g.r.IntN(len(names))
	id := strconv.Itoa(1000 + i*37)
	b = append(b, `{"id":"u-`...)
	b = append(b, id...)
	b = append(b, `","name":"`...)
	b = append(b, names[i]...)
	b = append(b, `","avatar":"https://cdn.example.com/avatars/u-`...)
	b = append(b, id...)
	return append(b, `.png"}`...)
}

// chat appends one chat message of about target bytes.
func (g *Generator) chat(b []byte, target int) []byte {
	start := len(b)
	b = append(b, `{"type":"message","id":"m-`...)
	b = strconv.AppendUint(b, g.r.Uint64()&0xffffffffff, 16)
	b = append(b, `","room":"`...)
	b = append(b, g.pick(rooms)...)
	b = append(b, `","from":`...)
	b = g.user(b)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, g.ts, 10)
	b = append(b, `,"text":"`...)
	for first := true; len(b)-start < target-2; first = false {
		if !first {
			b = append(b, ' ')
		}
		b = append(b, words[g.zipf.Uint64()]...)
	}
	return append(b, `"}`...)
}

// presence appends a room's member list of about target bytes.
func (g *Generator) presence(target int) []byte {
	b := append([]byte(nil), `{"type":"presence","room":"`...)
	b = append(b, g.pick(rooms)...)
	b = append(b, `","members":[`...)
	for i := 0; len(b) < target-2; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"user":`...)
		b = g.user(b)
		b = append(b, `,"status":"`...)
		b = append(b, g.pick(status)...)
		b = append(b, `"}`...)
	}
	return append(b, "]}"...)
}

// history appends a batch of chat messages of about target bytes.
func (g *Generator) history(target int) []byte {
	b := append([]byte(nil), `{"type":"history","messages":[`...)
	for i := 0; len(b) < target-2; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = g.chat(b, min(target-len(b), 150+g.r.IntN(200)))
	}
	return append(b, "]}"...)
}
