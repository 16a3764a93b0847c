package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// bar is one library's figure in a chart panel.
type bar struct {
	label string
	value float64
	text  string // shown at the bar's end; "" for the value itself
}

// panel is one horizontal bar chart: a figure of one run, a bar per
// library.
type panel struct {
	title string
	bars  []bar
}

// Chart geometry, in pixels: 800 wide, readable as a page's figure.
const (
	chartWidth  = 800
	labelWidth  = 90  // library names, left of the bars
	valueWidth  = 110 // value text, right of the longest bar
	plotWidth   = chartWidth - labelWidth - valueWidth - 20
	barHeight   = 20
	barGap      = 6
	panelTitleH = 30
	axisH       = 30
	panelGap    = 14
	docTitleH   = 60
)

// Colours: the reference library stands out, the others share one.
const (
	refColour   = "#0b7285"
	otherColour = "#adb5bd"
	gridColour  = "#dee2e6"
	textColour  = "#212529"
)

// svgChart renders panels one under another, under a title and a
// subtitle (what the figures were measured on: the file may be seen
// apart from its results.md).
func svgChart(title, subtitle string, panels []panel) string {
	height := docTitleH
	for _, p := range panels {
		height += panelHeight(p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12" fill="%s">
<rect width="100%%" height="100%%" fill="#ffffff"/>
<text x="10" y="28" font-size="18" font-weight="bold">%s</text>
<text x="10" y="46" font-size="12">%s</text>
`, chartWidth, height, chartWidth, height, textColour, esc(title), esc(subtitle))
	y := docTitleH
	for _, p := range panels {
		writePanel(&b, p, y)
		y += panelHeight(p)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func panelHeight(p panel) int {
	return panelTitleH + len(p.bars)*(barHeight+barGap) + axisH + panelGap
}

// writePanel draws p with its top at y: title, a scale from 0 with
// gridlines, then one labelled bar per library.
func writePanel(b *strings.Builder, p panel, y int) {
	fmt.Fprintf(b, `<g class="panel">
<text x="10" y="%d" font-size="14" font-weight="bold">%s</text>
`, y+20, esc(p.title))
	top := y + panelTitleH
	bottom := top + len(p.bars)*(barHeight+barGap)
	highest := 0.0
	for _, br := range p.bars {
		highest = math.Max(highest, br.value)
	}
	step, scaleMax := scale(highest)
	x := func(v float64) float64 { return labelWidth + v/scaleMax*plotWidth }
	for v := 0.0; v <= scaleMax*(1+1e-9); v += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>
<text x="%.1f" y="%d" text-anchor="middle" font-size="11">%s</text>
`, x(v), top-4, x(v), bottom, gridColour, x(v), bottom+14, esc(compact(v)))
	}
	for i, br := range p.bars {
		by := top + i*(barHeight+barGap)
		colour := otherColour
		if br.label == reference {
			colour = refColour
		}
		label := br.text
		if label == "" {
			label = num(br.value)
		}
		w := math.Max(0, x(br.value)-labelWidth)
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>
<rect class="bar" data-lib="%s" x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>
<text x="%.1f" y="%d">%s</text>
`, labelWidth-8, by+barHeight-6, esc(br.label),
			esc(br.label), labelWidth, by, w, barHeight, colour,
			labelWidth+w+6, by+barHeight-6, esc(label))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>
</g>
`, labelWidth, bottom, labelWidth+plotWidth, bottom, textColour)
}

// scale picks a tick step of 1, 2 or 5 times a power of ten, giving
// four to ten ticks, and the axis end: the first tick at or past top.
func scale(top float64) (step, end float64) {
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		return 1, 1
	}
	raw := top / 5
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * pow; step >= raw {
			break
		}
	}
	return step, math.Ceil(top/step-1e-9) * step
}

func esc(s string) string { return html.EscapeString(s) }
