package shard

// fdPageSize entries make a page of 4 KiB.
const fdPageSize = 512

// fdTable maps a socket's fd to its conn, or to a conn's TLS state (the
// side table). It is paged: a page is allocated when an fd first falls
// in it and never moves or shrinks. A slice grown by appending would
// copy itself each time it doubled, and a burst of accepts would leave
// the old copies behind as garbage that stays resident (see DESIGN.md,
// "Memory per connection").
type fdTable[T any] struct {
	pages []*[fdPageSize]*T
}

func (t *fdTable[T]) get(fd int) *T {
	if p := fd / fdPageSize; p < len(t.pages) && t.pages[p] != nil {
		return t.pages[p][fd%fdPageSize]
	}
	return nil
}

func (t *fdTable[T]) set(fd int, c *T) {
	p := fd / fdPageSize
	if p >= len(t.pages) {
		if c == nil {
			return
		}
		t.pages = append(t.pages, make([]*[fdPageSize]*T, p+1-len(t.pages))...)
	}
	if t.pages[p] == nil {
		if c == nil {
			return
		}
		t.pages[p] = new([fdPageSize]*T)
	}
	t.pages[p][fd%fdPageSize] = c
}

// each calls f for every conn in the table, in fd order. f may remove
// conns (set(fd, nil)), the one it was given or others.
func (t *fdTable[T]) each(f func(*T)) {
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
