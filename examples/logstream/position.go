package main

import (
	"fmt"
	"strconv"
	"strings"
)

// position is a line a client had, as it names it in since=: the
// generation of the file (a frame's gen) and the line's byte offset in it.
type position struct {
	gen    string // "": unknown (the old since=OFFSET form)
	offset int64
}

// maxGenName bounds the generation part of since=; the server's own are
// about 16 bytes.
const maxGenName = 64

// parsePosition parses since=GEN:OFFSET, or the older since=OFFSET, whose
// generation is unknown.
func parsePosition(v string) (position, error) {
	var p position
	off := v
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		p.gen, off = v[:i], v[i+1:]
		if !validGenName(p.gen) {
			return position{}, fmt.Errorf("invalid since %q: want GEN:OFFSET, a line's gen and offset", v)
		}
	}
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil || n < 0 {
		return position{}, fmt.Errorf("invalid since %q: want GEN:OFFSET, a line's gen and offset", v)
	}
	p.offset = n
	return p, nil
}

// validGenName reports whether s can be a generation's name: lower-case
// letters, digits and "-", at most maxGenName bytes. A name the server
// never handed out is valid, and taken as an unknown generation.
func validGenName(s string) bool {
	if s == "" || len(s) > maxGenName {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// String is the position as since= spells it; "" for nil.
func (p *position) String() string {
	switch {
	case p == nil:
		return ""
	case p.gen == "":
		return strconv.FormatInt(p.offset, 10)
	}
	return p.gen + ":" + strconv.FormatInt(p.offset, 10)
}
