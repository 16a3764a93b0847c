package main

import (
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// svgPanel is what a test reads back of one rendered panel.
type svgPanel struct {
	bars  []string // data-lib of each bar, in order
	texts []string // every text element's content
}

// parseSVG decodes the whole document, so malformed XML anywhere fails,
// and collects each panel's bars and texts.
func parseSVG(t *testing.T, doc string) (heads []string, panels []svgPanel) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var inPanel, inText bool
	var cur svgPanel
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, doc)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			}
			attr := func(name string) string {
				for _, a := range e.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch {
			case e.Name.Local == "g" && attr("class") == "panel":
				inPanel, cur = true, svgPanel{}
			case e.Name.Local == "rect" && attr("class") == "bar":
				cur.bars = append(cur.bars, attr("data-lib"))
			case e.Name.Local == "text":
				inText = true
			}
		case xml.CharData:
			switch {
			case inText && inPanel:
				cur.texts = append(cur.texts, string(e))
			case inText:
				heads = append(heads, string(e))
			}
		case xml.EndElement:
			switch e.Name.Local {
			case "g":
				panels, inPanel = append(panels, cur), false
			case "text":
				inText = false
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return heads, panels
}

func TestSVGChart(t *testing.T) {
	libs := []string{"shoal", "gorilla", "gws", "nbio", "gobwas"}
	var bars []bar
	for i, l := range libs {
		bars = append(bars, bar{label: l, value: float64(i+1) * 12345})
	}
	bars[3] = bar{label: "nbio", text: "failed"}
	in := []panel{
		{title: "echo 64 B: round trips/s", bars: bars},
		{title: `broadcast <5000> & "subs"`, bars: bars[:2]},
	}
	heads, got := parseSVG(t, svgChart("Throughput & more", "2026-01-02, <CPU>, 2 logical cores", in))
	if want := []string{"Throughput & more", "2026-01-02, <CPU>, 2 logical cores"}; !slices.Equal(heads, want) {
		t.Errorf("title and subtitle %q, want %q", heads, want)
	}
	if len(got) != len(in) {
		t.Fatalf("%d panels, want %d", len(got), len(in))
	}
	for i, p := range in {
		if got[i].texts[0] != p.title {
			t.Errorf("panel %d title %q, want %q", i, got[i].texts[0], p.title)
		}
		if len(got[i].bars) != len(p.bars) {
			t.Errorf("panel %d: %d bars, want one per library: %d", i, len(got[i].bars), len(p.bars))
		}
		for j, b := range p.bars {
			if j < len(got[i].bars) && got[i].bars[j] != b.label {
				t.Errorf("panel %d bar %d is %q, want %q", i, j, got[i].bars[j], b.label)
			}
			want := []string{b.label, num(b.value)}
			if b.text != "" {
				want[1] = b.text
			}
			for _, w := range want {
				if !slices.Contains(got[i].texts, w) {
					t.Errorf("panel %d: no text %q among %q", i, w, got[i].texts)
				}
			}
		}
	}
	// The scale: ticks of 20k from 0 past the longest bar, 61,725.
	for _, w := range []string{"0", "20k", "80k"} {
		if !slices.Contains(got[0].texts, w) {
			t.Errorf("no axis label %q among %q", w, got[0].texts)
		}
	}
}

func TestScale(t *testing.T) {
	for _, c := range []struct{ top, step, end float64 }{
		{61725, 20000, 80000},
		{100, 20, 100},
		{0.52, 0.2, 0.6},
		{18.6, 5, 20},
		{1, 0.2, 1},
		{0, 1, 1},
	} {
		step, end := scale(c.top)
		if !near(step, c.step) || !near(end, c.end) {
			t.Errorf("scale(%v) = %v, %v; want %v, %v", c.top, step, end, c.step, c.end)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
