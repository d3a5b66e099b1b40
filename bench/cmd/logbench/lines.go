package main

import (
	"bytes"
	"strconv"
	"time"

	"github.com/macaron-contrib/sockets/bench/internal/load"
)

// A line the benchmark writes is
//
//	LEVEL SEQ:NANOS:STEP: WORDS xxx…
//
// LEVEL is INFO, WARN or ERROR (a function of SEQ), NANOS the time of the
// write since the run's start, STEP the step it belongs to, WORDS what the
// filters look for; x pads it to the line size.

// levelOf is the level word of line seq: 2% ERROR, 20% WARN, the rest INFO.
func levelOf(seq int) string {
	switch {
	case seq%50 == 7:
		return "ERROR"
	case seq%5 == 4:
		return "WARN"
	}
	return "INFO"
}

// tagWords is the WORDS of line seq in the throughput scenario: tag00 to
// tag09, by the last digit of seq.
func tagWords(seq int) string { return "tag0" + strconv.Itoa(seq%10) }

// appendLine appends line seq, with its newline, padded to size bytes
// (newline included) when it is shorter.
func appendLine(dst []byte, seq int, ts time.Duration, step int, words string, size int) []byte {
	start := len(dst)
	dst = append(dst, levelOf(seq)...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(ts), 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(step), 10)
	dst = append(dst, ": "...)
	dst = append(dst, words...)
	dst = append(dst, ' ')
	for len(dst)-start < size-1 {
		dst = append(dst, 'x')
	}
	return append(dst, '\n')
}

// frameKind says what a frame from the viewer is.
type frameKind int

const (
	frameOther  frameKind = iota // a frame the benchmark does not count
	frameLine                    // one of the benchmark's lines
	frameBehind                  // {"error":"behind","skipped":N}
	frameGap                     // {"error":"gap"}
	frameBad                     // a line frame the benchmark cannot read
)

// parsedFrame is what the benchmark reads of a frame.
type parsedFrame struct {
	kind    frameKind
	seq     int
	ts      time.Duration
	step    int
	skipped int // with frameBehind
}

var (
	lineField    = []byte(`"line":"`)
	behindField  = []byte(`"error":"behind"`)
	gapField     = []byte(`"error":"gap"`)
	skippedField = []byte(`"skipped":`)
)

// parseFrame reads a frame of the stream socket: a JSON object whose
// "line" is one of the benchmark's lines, or an error frame. Only the
// fields it needs are looked for, by scanning: the benchmark's lines hold
// nothing that JSON escapes.
func parseFrame(b []byte) parsedFrame {
	if i := bytes.Index(b, lineField); i >= 0 {
		line := b[i+len(lineField):]
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return parsedFrame{kind: frameBad}
		}
		seq, rest, ok1 := load.ParseUint(line[sp+1:])
		ts, rest, ok2 := load.ParseUint(rest)
		step, _, ok3 := load.ParseUint(rest)
		if !ok1 || !ok2 || !ok3 {
			return parsedFrame{kind: frameBad}
		}
		return parsedFrame{kind: frameLine, seq: int(seq), ts: time.Duration(ts), step: int(step)}
	}
	if bytes.Contains(b, behindField) {
		f := parsedFrame{kind: frameBehind}
		if i := bytes.Index(b, skippedField); i >= 0 {
			n := 0
			for _, c := range b[i+len(skippedField):] {
				if c < '0' || c > '9' {
					break
				}
				n = n*10 + int(c-'0')
			}
			f.skipped = n
		}
		return f
	}
	if bytes.Contains(b, gapField) {
		return parsedFrame{kind: frameGap}
	}
	return parsedFrame{kind: frameOther}
}

// filterSpec is one of the throughput scenario's filters: the level and
// search a viewer asks for, and which lines pass it.
type filterSpec struct {
	level, search string
	match         func(seq int) bool
}

func atLeastWarn(seq int) bool { return levelOf(seq) != "INFO" }

// filters are the throughput scenario's ten filters: substrings, levels,
// regular expressions and both, passing from 2% to all of the lines.
var filters = []filterSpec{
	{"", "tag00", func(seq int) bool { return seq%10 == 0 }},
	{"", "tag01", func(seq int) bool { return seq%10 == 1 }},
	{"", "tag02", func(seq int) bool { return seq%10 == 2 }},
	{"", "tag03", func(seq int) bool { return seq%10 == 3 }},
	{"warn", "", atLeastWarn},
	{"error", "", func(seq int) bool { return levelOf(seq) == "ERROR" }},
	{"", "/tag0[5-9]/", func(seq int) bool { return seq%10 >= 5 }},
	{"warn", "tag04", func(seq int) bool { return seq%10 == 4 && atLeastWarn(seq) }},
	{"", `/^\S+ \d*[13]:/`, func(seq int) bool { return seq%10 == 1 || seq%10 == 3 }},
	{"info", "xx", func(int) bool { return true }},
}

var (
	genField    = []byte(`"gen":"`)
	offsetField = []byte(`"offset":`)
)

// framePos returns the position of a line frame as since= names it,
// GEN:OFFSET, or "" when it has none.
func framePos(b []byte) string {
	i := bytes.Index(b, genField)
	j := bytes.Index(b, offsetField)
	if i < 0 || j < 0 {
		return ""
	}
	gen := b[i+len(genField):]
	end := bytes.IndexByte(gen, '"')
	if end < 0 {
		return ""
	}
	off := b[j+len(offsetField):]
	n := 0
	for n < len(off) && off[n] >= '0' && off[n] <= '9' {
		n++
	}
	if n == 0 {
		return ""
	}
	return string(gen[:end]) + ":" + string(off[:n])
}
