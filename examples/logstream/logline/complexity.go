package logline

import (
	"errors"
	"regexp"
	"regexp/syntax"
)

// Limits on a search, which is matched against every line of a file while
// its follower waits: a regular expression's cost per byte of a line grows
// with the size of its compiled program, and counted repetitions such as
// (x?){999} make a short expression compile to a huge one.
const (
	// MaxSearchLen is the longest search accepted, in bytes, as a
	// substring or as a /regexp/ (slashes included).
	MaxSearchLen = 512
	// MaxSearchProgram is the largest compiled program accepted, in
	// instructions of regexp/syntax. Everyday expressions need a few
	// dozen; at this size, matching 10000 lines of 200 bytes takes about
	// 60 ms, twice a plain substring search.
	MaxSearchProgram = 1000
)

// errTooComplex is the reason a search is refused for its cost.
var errTooComplex = errors.New("too complex to match (use fewer or smaller counted repetitions)")

// compileSearch compiles expr (Perl syntax, as regexp.Compile) unless its
// program is larger than MaxSearchProgram. The parsed expression's size is
// estimated before it is expanded, so that a refused expression costs
// little memory or time.
func compileSearch(expr string) (*regexp.Regexp, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	if estimateProgram(re, MaxSearchProgram) > MaxSearchProgram {
		return nil, errTooComplex
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	if len(prog.Inst) > MaxSearchProgram {
		return nil, errTooComplex
	}
	return regexp.Compile(expr)
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
