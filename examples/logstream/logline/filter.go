package logline

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// levelRank orders the normalised levels; 0 is "no level".
var levelRank = map[string]int{LevelDebug: 1, LevelInfo: 2, LevelWarn: 3, LevelError: 4}

// Filter selects lines by minimum level and search text. The zero Filter,
// and a nil *Filter, match every line. A Filter is safe for concurrent use.
type Filter struct {
	minRank int            // 0: any level, including none
	search  *regexp.Regexp // nil: any text
	// prefix, when above 0, is the most bytes of a line that search is
	// matched against (see MaxLineWork); 0: the whole line.
	prefix int
}

// NewFilter builds a Filter.
//
// minLevel is "" for every line, or a level name (any case, aliases such as
// "warning" or "fatal" accepted, see NormalizeLevel): then lines of that
// severity or higher match. Lines without a detected level match only when
// minLevel is "" or "debug", so that raising the level hides unclassified
// noise such as continuation lines.
//
// search is "" for every line; written as /re/ it is a regular expression
// (Go syntax, matched case-insensitively anywhere in the line); otherwise it
// is a case-insensitive substring.
//
// A regular expression is matched against the first
// MaxLineWork/(its program's size) bytes of a line only, so that no line
// costs more than about 2 ms to match whatever its length: at least 262
// bytes (at MaxSearchProgram), 6 KB for a typical expression of a few
// dozen instructions. A substring is looked for in the whole line.
//
// It fails for an unknown level, an invalid regular expression, a search
// longer than MaxSearchLen bytes, or one too costly to match (see
// MaxSearchProgram).
func NewFilter(minLevel, search string) (*Filter, error) {
	f := &Filter{}
	if minLevel != "" {
		lvl := NormalizeLevel(minLevel)
		if lvl == "" {
			return nil, fmt.Errorf("logline: unknown level %q (want debug, info, warn or error)", minLevel)
		}
		if lvl != LevelDebug {
			f.minRank = levelRank[lvl]
		}
	}
	if len(search) > MaxSearchLen {
		return nil, fmt.Errorf("logline: search of %d bytes is too long (at most %d)", len(search), MaxSearchLen)
	}
	switch {
	case search == "":
	case len(search) >= 2 && strings.HasPrefix(search, "/") && strings.HasSuffix(search, "/"):
		expr := search[1 : len(search)-1]
		re, size, err := compileSearch("(?i)" + expr)
		if err != nil {
			return nil, fmt.Errorf("logline: invalid search regexp %q: %w", expr, err)
		}
		f.search, f.prefix = re, max(1, MaxLineWork/size)
	default:
		re, _, err := compileSearch("(?i)" + regexp.QuoteMeta(search))
		if err != nil { // only for invalid UTF-8
			return nil, fmt.Errorf("logline: invalid search text %q: %w", search, err)
		}
		f.search = re
	}
	return f, nil
}

// Match reports whether line, whose Parse result is info, passes the
// filter.
func (f *Filter) Match(line string, info Info) bool {
	if f == nil {
		return true
	}
	if f.minRank > 0 && levelRank[info.Level] < f.minRank {
		return false
	}
	if f.search == nil {
		return true
	}
	if f.prefix > 0 && len(line) > f.prefix {
		n := f.prefix
		for n > 0 && !utf8.RuneStart(line[n]) {
			n-- // not within a character
		}
		line = line[:n]
	}
	return f.search.MatchString(line)
}
