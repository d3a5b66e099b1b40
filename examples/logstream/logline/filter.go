package logline

import (
	"fmt"
	"regexp"
	"strings"
)

// levelRank orders the normalised levels; 0 is "no level".
var levelRank = map[string]int{LevelDebug: 1, LevelInfo: 2, LevelWarn: 3, LevelError: 4}

// Filter selects lines by minimum level and search text. The zero Filter,
// and a nil *Filter, match every line. A Filter is safe for concurrent use.
type Filter struct {
	minRank int            // 0: any level, including none
	search  *regexp.Regexp // nil: any text
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
		re, err := compileSearch("(?i)" + expr)
		if err != nil {
			return nil, fmt.Errorf("logline: invalid search regexp %q: %w", expr, err)
		}
		f.search = re
	default:
		re, err := compileSearch("(?i)" + regexp.QuoteMeta(search))
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
	return f.search == nil || f.search.MatchString(line)
}
