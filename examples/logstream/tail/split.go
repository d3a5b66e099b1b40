package tail

import (
	"bytes"
	"unicode/utf8"
)

// splitter turns the bytes of one file generation, fed in order, into Lines.
type splitter struct {
	max      int    // MaxLineSize
	pos      int64  // file offset of the next byte to be fed
	start    int64  // file offset where the pending line starts
	pending  []byte // the incomplete line read so far
	skipping bool   // discarding bytes up to and including the next "\n"
}

// reset starts a new generation at offset off. With skip set, the bytes up
// to and including the first "\n" are discarded.
func (s *splitter) reset(off int64, skip bool) {
	s.pos, s.start = off, off
	s.pending = s.pending[:0]
	s.skipping = skip
	if cap(s.pending) > 64<<10 {
		s.pending = nil // do not keep a huge buffer after a long line
	}
}

// feed processes data, which starts at offset s.pos, calling emit for every
// line completed. It stops early and returns false when emit does.
func (s *splitter) feed(data []byte, emit func(Line) bool) bool {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if s.skipping {
			if i < 0 {
				s.pos += int64(len(data))
				return true
			}
			s.skipping = false
			s.pos += int64(i + 1)
			s.start = s.pos
			data = data[i+1:]
			continue
		}
		if i < 0 {
			s.pending = append(s.pending, data...)
			s.pos += int64(len(data))
			// One byte of slack: it may be a "\r" that is stripped later.
			if len(s.pending) > s.max+1 {
				l := s.makeLine(s.pending)
				s.pending = s.pending[:0]
				s.skipping = true
				return emit(l)
			}
			return true
		}
		line := data[:i]
		if len(s.pending) > 0 {
			s.pending = append(s.pending, line...)
			line = s.pending
		}
		l := s.makeLine(line)
		s.pending = s.pending[:0]
		s.pos += int64(i + 1)
		s.start = s.pos
		data = data[i+1:]
		if !emit(l) {
			return false
		}
	}
	return true
}

// flush returns the pending incomplete line, if any, as a Line; used when
// the generation ends and the line can never be completed.
func (s *splitter) flush() (Line, bool) {
	if s.skipping || len(s.pending) == 0 {
		return Line{}, false
	}
	l := s.makeLine(s.pending)
	s.pending = s.pending[:0]
	s.start = s.pos
	return l, true
}

// makeLine builds the Line starting at s.start from its bytes b, stripping a
// trailing "\r" and cutting it to s.max bytes at a UTF-8 boundary.
func (s *splitter) makeLine(b []byte) Line {
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if len(b) <= s.max {
		return Line{Offset: s.start, Text: string(b)}
	}
	cut := s.max
	// Back up over at most 3 continuation bytes so no rune is split.
	for back := 0; back < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(b[cut]); back++ {
		cut--
	}
	return Line{Offset: s.start, Text: string(b[:cut]) + TruncatedMarker, Truncated: true}
}
