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
	fields  *fieldSearch   // non-nil: a search of terms, in place of search
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
// (Go syntax, matched case-insensitively anywhere in the line); otherwise,
// when it has a field term (below), it is a field search; otherwise it is
// a case-insensitive substring, spaces included.
//
// A field search is a list of terms separated by spaces, all of which a
// line must pass (AND). A field term is key OP value, without spaces but
// within double quotes (user="ann smith"):
//
//   - key is made of letters, digits, "_" and "@", with "." and "-"
//     between them; it names a field whatever its case. The fields are
//     those of a structured line (see Info.Fields; req.method names a
//     nested member); a line that is not structured offers its key=value
//     pairs, as logfmt writes them, wherever they are in the line (the
//     first MaxFields of its first MaxLineWork bytes; none for a line
//     shaped like a JSON object that is not structured: too long, or
//     broken).
//   - key=value passes when a field of that key has that value, whole,
//     compared case-insensitively (user=ann: ann, Ann; not anne), or,
//     both being numbers, equal as numbers (status=200.0 is 200).
//     key!=value passes when no field of that key has it: a line without
//     the field passes.
//   - key>value, >=, < and <= compare numbers: value must be one (else
//     the search is refused), and a field of that key whose value is a
//     number must compare so (a value that is not a number passes none).
//
// Any other term is text: a case-insensitive substring, double-quoted to
// hold spaces or to search for what would be a field term ("a=b"). A
// field search has at most MaxSearchTerms terms; its text terms are
// matched against the first MaxLineWork/(their programs' sizes) bytes of
// a line only, as a regular expression is. An unterminated quote makes the
// search a substring (it has no field term then).
//
// A regular expression is matched against the first
// MaxLineWork/(its program's size) bytes of a line only, so that no line
// costs more than about 2 ms to match whatever its length: at least 262
// bytes (at MaxSearchProgram), 6 KB for a typical expression of a few
// dozen instructions. A substring is looked for in the whole line.
//
// It fails for an unknown level, an invalid regular expression, a search
// longer than MaxSearchLen bytes, one too costly to match (see
// MaxSearchProgram), a field search of more than MaxSearchTerms terms, or
// an invalid term: a comparison with a value that is not a number, a
// quoted value or text that is not a valid Go string literal.
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
		fs, err := parseFieldSearch(search)
		if err != nil {
			return nil, err
		}
		if fs != nil {
			f.fields = fs
			break
		}
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
	if f.fields != nil {
		return f.fields.match(line, &info)
	}
	if f.search == nil {
		return true
	}
	if f.prefix > 0 {
		line = cut(line, f.prefix)
	}
	return f.search.MatchString(line)
}
