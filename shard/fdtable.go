package shard

// fdPageSize entries make a page of 4 KiB.
const fdPageSize = 512

// fdTable maps a socket's fd to its conn. It is paged: a page is
// allocated when an fd first falls in it and never moves or shrinks. A
// slice grown by appending would copy itself each time it doubled, and a
// burst of accepts would leave the old copies behind as garbage that
// stays resident (see DESIGN.md, "Memory per connection").
type fdTable struct {
	pages []*[fdPageSize]*Conn
}

func (t *fdTable) get(fd int) *Conn {
	if p := fd / fdPageSize; p < len(t.pages) && t.pages[p] != nil {
		return t.pages[p][fd%fdPageSize]
	}
	return nil
}

func (t *fdTable) set(fd int, c *Conn) {
	p := fd / fdPageSize
	if p >= len(t.pages) {
		if c == nil {
			return
		}
		t.pages = append(t.pages, make([]*[fdPageSize]*Conn, p+1-len(t.pages))...)
	}
	if t.pages[p] == nil {
		if c == nil {
			return
		}
		t.pages[p] = new([fdPageSize]*Conn)
	}
	t.pages[p][fd%fdPageSize] = c
}

// each calls f for every conn in the table, in fd order. f may remove
// conns (set(fd, nil)), the one it was given or others.
func (t *fdTable) each(f func(*Conn)) {
	for _, page := range t.pages {
		if page == nil {
			continue
		}
		for _, c := range page {
			if c != nil {
				f(c)
			}
		}
	}
}
