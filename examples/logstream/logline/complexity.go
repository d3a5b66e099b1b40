package logline

import (
	"errors"
	"regexp"
	"regexp/syntax"
)

// Limits on a search, which is matched against every line of a file: a
// regular expression's cost per byte of a line grows with the size of its
// compiled program, and counted repetitions such as (x?){999} make a short
// expression compile to a huge one.
const (
	// MaxSearchLen is the longest search accepted, in bytes, as a
	// substring or as a /regexp/ (slashes included).
	MaxSearchLen = 512
	// MaxSearchProgram is the largest compiled program accepted, in
	// instructions of regexp/syntax. Everyday expressions need a few
	// dozen. The size alone does not bound the cost of a line: measured,
	// a match costs from 1.3 ns (foo.*bar) to 7 ns ((?s:.{0,490})\x01, 983
	// instructions) per byte of the line and instruction of the program,
	// so that last one took 0.5 ms on a line of 256 bytes, 0.43 s on
	// 64 KiB, 8 s on 1 MiB, and 3 to 4 s on a ring of 10000 ordinary lines.
	MaxSearchProgram = 1000
	// MaxLineWork bounds a regular expression's work on one line, in bytes
	// times instructions: it is matched against the first
	// MaxLineWork/(program size) bytes of a line only, which costs at most
	// about 2 ms (262 bytes at 983 instructions: 0.55 ms measured, up to
	// 1.8 ms at the worst rate seen). A line longer than that is searched
	// in its start only, for such expressions ($ then also matches where
	// the search stops); a substring search is always whole-line (18-25 ms
	// on a line of 1 MiB).
	MaxLineWork = 256 << 10
	// MaxSearchTerms bounds the terms of a field search. Its field terms
	// cost little (each field of a line, at most MaxFields, is compared
	// with the terms of its key: microseconds); its text terms share
	// MaxLineWork as a regular expression's instructions do.
	MaxSearchTerms = 16
)

// errTooComplex is the reason a search is refused for its cost.
var errTooComplex = errors.New("too complex to match (use fewer or smaller counted repetitions)")

// compileSearch compiles expr (Perl syntax, as regexp.Compile) unless its
// program is larger than MaxSearchProgram, and returns the program's size. The parsed expression's size is
// estimated before it is expanded, so that a refused expression costs
// little memory or time.
func compileSearch(expr string) (*regexp.Regexp, int, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, 0, err
	}
	if estimateProgram(re, MaxSearchProgram) > MaxSearchProgram {
		return nil, 0, errTooComplex
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, 0, err
	}
	if len(prog.Inst) > MaxSearchProgram {
		return nil, 0, errTooComplex
	}
	r, err := regexp.Compile(expr)
	return r, len(prog.Inst), err
}

// estimateProgram returns an estimate of the instructions that re
// compiles to once simplified, or a number above limit as soon as that is
// certain: a literal is one instruction per rune, a counted repetition
// x{n,m} max(n, m) copies of x.
func estimateProgram(re *syntax.Regexp, limit int) int {
	n := max(1, len(re.Rune))
	if re.Op != syntax.OpLiteral {
		n = 1 // a character class's runes are ranges, one instruction
	}
	for _, sub := range re.Sub {
		n += estimateProgram(sub, limit)
		if n > limit {
			return n
		}
	}
	if re.Op == syntax.OpRepeat {
		copies := max(re.Min, re.Max, 1)
		if n > limit/copies {
			return limit + 1
		}
		n *= copies
	}
	return n
}
