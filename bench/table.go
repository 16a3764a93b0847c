package main

import (
	"fmt"
	"math"
	"strings"
)

// reference is the library the others are measured against.
const reference = "shoal"

// bestOther is the best value of c among the rows other than rows[i]
// (the highest or lowest, as c ranks), and whose it is. Rows that
// failed or lack the figure take no part.
func bestOther(rows []row, i int, c column) (v float64, lib string, ok bool) {
	for j, r := range rows {
		if j == i || r.Error != "" {
			continue
		}
		x, has := c.num(r)
		if !has || math.IsNaN(x) {
			continue
		}
		if !ok || (c.better == higher && x > v) || (c.better == lower && x < v) {
			v, lib, ok = x, r.Lib, true
		}
	}
	return v, lib, ok
}

// ratioTo is rows[i]'s figure divided by the best other library's, NaN
// where there is nothing to compare. Above 1 is ahead for a figure
// where higher is better, behind for one where lower is.
func ratioTo(rows []row, i int, c column) (r float64, lib string) {
	v, has := c.num(rows[i])
	best, lib, ok := bestOther(rows, i, c)
	if !has || !ok || rows[i].Error != "" || best == 0 {
		return math.NaN(), ""
	}
	return v / best, lib
}

// table renders a run's rows as markdown: each ranked figure followed
// by its ratio to the best other library, then an issues column if any
// row has one.
func table(cols []column, rows []row) string {
	head := []string{"lib"}
	align := []string{"---"}
	for _, c := range cols {
		head, align = append(head, c.head), append(align, "---:")
		if c.better != unranked {
			head, align = append(head, "× best other"), append(align, "---:")
		}
	}
	var notes []string
	for _, r := range rows {
		notes = append(notes, issues(r))
	}
	anyNote := strings.Join(notes, "") != ""
	if anyNote {
		head, align = append(head, "issues"), append(align, "---")
	}
	var b strings.Builder
	line := func(cells []string) {
		for i := range cells {
			cells[i] = strings.ReplaceAll(cells[i], "|", `\|`)
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	line(head)
	b.WriteString("|" + strings.Join(align, "|") + "|\n")
	for i, r := range rows {
		cells := []string{r.Lib}
		if r.Lib == reference {
			cells[0] = "**" + r.Lib + "**"
		}
		for _, c := range cols {
			cells = append(cells, c.cell(r))
			if c.better != unranked {
				x, _ := ratioTo(rows, i, c)
				cells = append(cells, ratio(x))
			}
		}
		if anyNote {
			cells = append(cells, notes[i])
		}
		line(cells)
	}
	return b.String()
}

// versus is the one-line reading of a table for the reference library:
// each ranked figure against the best other library's.
func versus(cols []column, rows []row) string {
	i := -1
	for j, r := range rows {
		if r.Lib == reference {
			i = j
		}
	}
	if i < 0 || len(rows) < 2 {
		return ""
	}
	if rows[i].Error != "" {
		return fmt.Sprintf("**%s vs best peer:** %s failed this run.", reference, reference)
	}
	var parts []string
	for _, c := range cols {
		if c.better == unranked {
			continue
		}
		x, lib := ratioTo(rows, i, c)
		if math.IsNaN(x) {
			continue
		}
		ahead := (c.better == higher) == (x > 1)
		verdict := "behind"
		switch {
		case math.Abs(x-1) < 0.02:
			verdict = "level"
		case ahead:
			verdict = "ahead"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s (%s; %s)", c.head, ratio(x), lib, c.better, verdict))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("**%s vs best peer:** %s.", reference, strings.Join(parts, "; "))
}
