package tail

import (
	"reflect"
	"strings"
	"testing"
)

// split feeds data to a fresh splitter in pieces of size step and returns
// the lines plus the flushed remainder, if any.
func split(max int, start int64, skip bool, data string, step int) []Line {
	s := splitter{max: max}
	s.reset(start, skip)
	var got []Line
	emit := func(l Line) bool { got = append(got, l); return true }
	for len(data) > 0 {
		k := min(step, len(data))
		s.feed([]byte(data[:k]), emit)
		data = data[k:]
	}
	if l, ok := s.flush(); ok {
		got = append(got, l)
	}
	return got
}

func TestSplitter(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		start int64
		skip  bool
		data  string
		want  []Line
	}{
		{"plain", 100, 0, false, "a\nbb\n\nccc\n", []Line{
			{Offset: 0, Text: "a"}, {Offset: 2, Text: "bb"}, {Offset: 5, Text: ""}, {Offset: 6, Text: "ccc"},
		}},
		{"crlf", 100, 0, false, "a\r\nb\r\r\n", []Line{{Offset: 0, Text: "a"}, {Offset: 3, Text: "b\r"}}},
		{"start offset", 100, 40, false, "x\ny\n", []Line{{Offset: 40, Text: "x"}, {Offset: 42, Text: "y"}}},
		{"skip first", 100, 40, true, "tail of a line\ny\n", []Line{{Offset: 55, Text: "y"}}},
		{"unfinished flushed", 100, 0, false, "a\nbc", []Line{{Offset: 0, Text: "a"}, {Offset: 2, Text: "bc"}}},
		{"exactly max", 3, 0, false, "abc\nab\r\n", []Line{{Offset: 0, Text: "abc"}, {Offset: 4, Text: "ab"}}},
		{"max with cr", 3, 0, false, "abc\r\n", []Line{{Offset: 0, Text: "abc"}}},
		{"over max", 3, 0, false, "abcd\ne\n", []Line{
			{Offset: 0, Text: "abc" + TruncatedMarker, Truncated: true}, {Offset: 5, Text: "e"},
		}},
		{"way over max", 3, 0, false, strings.Repeat("z", 1000) + "\ne\n", []Line{
			{Offset: 0, Text: "zzz" + TruncatedMarker, Truncated: true}, {Offset: 1001, Text: "e"},
		}},
		{"unfinished long line not flushed twice", 3, 0, false, "abcdefgh", []Line{
			{Offset: 0, Text: "abc" + TruncatedMarker, Truncated: true},
		}},
		// "é" is 2 bytes, "€" is 3: a cut never splits a rune.
		{"utf8 cut", 4, 0, false, "aé€é\n", []Line{{Offset: 0, Text: "aé" + TruncatedMarker, Truncated: true}}},
		{"utf8 cut inside 3-byte rune", 5, 0, false, "aé€é\n", []Line{{Offset: 0, Text: "aé" + TruncatedMarker, Truncated: true}}},
		{"utf8 fits", 6, 0, false, "aé€\n", []Line{{Offset: 0, Text: "aé€"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The result must not depend on how the data is chunked.
			for _, step := range []int{1, 2, 3, 7, len(tt.data) + 1} {
				got := split(tt.max, tt.start, tt.skip, tt.data, step)
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("step %d: got %+v\nwant %+v", step, got, tt.want)
				}
			}
		})
	}
}

func TestSplitterStopsWhenEmitFails(t *testing.T) {
	s := splitter{max: 100}
	n := 0
	ok := s.feed([]byte("a\nb\nc\n"), func(Line) bool { n++; return false })
	if ok || n != 1 {
		t.Errorf("feed = %v after %d lines; want false after 1", ok, n)
	}
}
