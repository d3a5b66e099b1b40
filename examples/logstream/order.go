package main

import (
	"iter"
	"time"
)

// maxViewFiles bounds the files of one view: the page opens a socket per
// file it shows, and a download merges at most this many.
const maxViewFiles = 8

// maxInherited bounds the lines without a time in a row that take the
// time of the line before them: a stack trace is shorter, a file that
// just stopped writing times is not one.
const maxInherited = 1000

// orderClock gives each line of one generation of a file its order time,
// the frame's At: the time a view of several files orders it by.
//
//   - A line with a time (logline.Info.Time): that time.
//   - A line without one, right after lines with one: the time of the last
//     of them, so that a stack trace or a multi-line message stays with the
//     line it belongs to. At most maxInherited lines in a row.
//   - Otherwise (no line with a time before it in the generation, or too
//     many without one since): when the server read it.
//
// A view keeps each file's lines in the file's order whatever their order
// times; across files it orders them by order time.
type orderClock struct {
	last      time.Time // the time of the last line that had one
	inherited int       // lines without a time since
}

// next returns the order time of the next line, in microseconds since
// 1970 UTC: t is its own time (zero: none), read when it was read.
func (c *orderClock) next(t, read time.Time) int64 {
	switch {
	case !t.IsZero():
		c.last, c.inherited = t, 0
	case !c.last.IsZero() && c.inherited < maxInherited:
		c.inherited++
		t = c.last
	default:
		t = read
	}
	return t.UnixMicro()
}

// mergeByTime yields the lines of several files, each list in its file's
// order, as one: at each step the next line of the list whose next line
// has the earliest order time (the earliest list on a tie), with the
// list's index. Each file's lines keep their order.
func mergeByTime(lists [][]*entry) iter.Seq2[int, *entry] {
	return func(yield func(int, *entry) bool) {
		heads := make([]int, len(lists))
		for {
			best := -1
			for i, l := range lists {
				if heads[i] < len(l) && (best < 0 || l[heads[i]].at < lists[best][heads[best]].at) {
					best = i
				}
			}
			if best < 0 {
				return
			}
			e := lists[best][heads[best]]
			heads[best]++
			if !yield(best, e) {
				return
			}
		}
	}
}
