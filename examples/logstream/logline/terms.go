package logline

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A field search is a search of several terms, all of which a line must
// pass (see NewFilter): field terms, key OP value, and text terms.
type fieldSearch struct {
	fields []fieldTerm
	texts  []*regexp.Regexp // case-insensitive substrings
	// prefix is the most bytes of a line that texts are matched against.
	prefix int
}

// fieldTerm is one field term: key OP value.
type fieldTerm struct {
	key string
	op  string // "=", "!=", ">", ">=", "<" or "<="
	val string
	num float64 // val as a number, when isNum
	// isNum: val is a number; = and != then compare numbers with a
	// field's value that is one.
	isNum bool
}

// fieldOps are the operators of a field term, longest first.
var fieldOps = []string{">=", "<=", "!=", ">", "<", "="}

// parseFieldSearch reads search as a list of terms. It returns nil, nil
// when search has no field term: it is then searched for as a whole.
func parseFieldSearch(search string) (*fieldSearch, error) {
	tokens, ok := splitTerms(search)
	if !ok || !slices.ContainsFunc(tokens, isFieldTerm) {
		return nil, nil // no field term (an unterminated quote makes none)
	}
	if len(tokens) > MaxSearchTerms {
		return nil, fmt.Errorf("logline: search of %d terms (at most %d)", len(tokens), MaxSearchTerms)
	}
	fs := &fieldSearch{}
	work := 0 // the text terms' program sizes
	for _, tok := range tokens {
		if isFieldTerm(tok) {
			t, err := parseFieldTerm(tok)
			if err != nil {
				return nil, fmt.Errorf("logline: search term %q: %w", tok, err)
			}
			fs.fields = append(fs.fields, t)
			continue
		}
		text := tok
		if strings.HasPrefix(tok, `"`) {
			s, err := strconv.Unquote(tok)
			if err != nil {
				return nil, fmt.Errorf("logline: search term %s: not a quoted string (quote \" inside as \\\")", tok)
			}
			text = s
		}
		if text == "" {
			continue
		}
		re, size, err := compileSearch("(?i)" + regexp.QuoteMeta(text))
		if err != nil { // only for invalid UTF-8
			return nil, fmt.Errorf("logline: search term %q: %w", text, err)
		}
		fs.texts = append(fs.texts, re)
		work += size
	}
	fs.prefix = max(1, MaxLineWork/max(1, work))
	return fs, nil
}

// splitTerms splits s at spaces and tabs outside double quotes (a
// backslash escapes the next byte within them). ok is false for an
// unterminated quote.
func splitTerms(s string) (tokens []string, ok bool) {
	i := 0
	for i < len(s) {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		start, inQuote := i, false
		for ; i < len(s) && (inQuote || s[i] != ' ' && s[i] != '\t'); i++ {
			switch {
			case s[i] == '"':
				inQuote = !inQuote
			case s[i] == '\\' && inQuote:
				i++
			}
		}
		if inQuote {
			return nil, false
		}
		tokens = append(tokens, s[start:min(i, len(s))])
	}
	return tokens, true
}

// keyLen returns the length of the field key that tok starts with, or 0:
// letters, digits, "_" and "@", and "." and "-" between them.
func keyLen(tok string) int {
	n := 0
	last := rune(0)
	for i, r := range tok {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '@':
		case (r == '.' || r == '-') && i > 0:
		default:
			return keyEnd(n, last)
		}
		n, last = i+utf8.RuneLen(r), r
	}
	return keyEnd(n, last)
}

// keyEnd is n, unless the key ends with "." or "-": then 0.
func keyEnd(n int, last rune) int {
	if last == '.' || last == '-' {
		return 0
	}
	return n
}

// isFieldTerm reports whether tok is written key OP value.
func isFieldTerm(tok string) bool {
	n := keyLen(tok)
	return n > 0 && opAt(tok[n:]) != ""
}

// opAt returns the operator s starts with, or "".
func opAt(s string) string {
	for _, op := range fieldOps {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}

// parseFieldTerm reads a token that isFieldTerm accepts.
func parseFieldTerm(tok string) (fieldTerm, error) {
	n := keyLen(tok)
	t := fieldTerm{key: tok[:n], op: opAt(tok[n:])}
	t.val = tok[n+len(t.op):]
	if strings.HasPrefix(t.val, `"`) {
		v, err := strconv.Unquote(t.val)
		if err != nil {
			return t, fmt.Errorf("the value %s is not a quoted string (quote \" inside as \\\")", t.val)
		}
		t.val = v
	}
	t.num, t.isNum = number(t.val)
	switch t.op {
	case "=", "!=":
	default:
		if !t.isNum {
			return t, fmt.Errorf("%s compares numbers, and %q is not one (to search for the text, quote the term: %q)", t.op, t.val, tok)
		}
	}
	return t, nil
}

// number reads s as a decimal number (JSON's syntax, and a leading "+"
// or "."), as a field's value or a term's: not hexadecimal, not NaN or an
// infinity, not past float64's range.
func number(s string) (float64, bool) {
	if s == "" || len(s) > 64 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == 'e', c == 'E':
		case (c == '-' || c == '+') && (i == 0 || s[i-1] == 'e' || s[i-1] == 'E'):
		default:
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// test reports whether a field's value v passes t; for !=, whether it is
// equal (the term passes when no field of its key is).
func (t *fieldTerm) test(v string) bool {
	switch t.op {
	case "=", "!=":
		if t.isNum {
			if n, ok := number(v); ok {
				return n == t.num
			}
		}
		return strings.EqualFold(v, t.val)
	}
	n, ok := number(v)
	if !ok {
		return false
	}
	switch t.op {
	case ">":
		return n > t.num
	case ">=":
		return n >= t.num
	case "<":
		return n < t.num
	}
	return n <= t.num
}

// match reports whether a line passes every term. The fields are those of
// info for a structured line; for any other line (but one shaped like a
// JSON object) its key=value pairs in its first MaxLineWork bytes, the
// first MaxFields of them. Each field is compared with the terms of its
// key (case-insensitively); text terms are matched against the first
// prefix bytes of the line.
func (fs *fieldSearch) match(line string, info *Info) bool {
	if len(fs.fields) > 0 {
		var passed, equal uint64 // bit i: term i passed; != term i met its value
		see := func(key, val string) {
			for i := range fs.fields {
				t := &fs.fields[i]
				if !strings.EqualFold(t.key, key) || !t.test(val) {
					continue
				}
				if t.op == "!=" {
					equal |= 1 << i
				} else {
					passed |= 1 << i
				}
			}
		}
		switch {
		case info.Structured():
			for _, f := range info.Fields {
				see(f.Key, f.Value)
			}
		case !isJSONObject(line):
			sc := newPairScanner(cut(line, MaxLineWork))
			for range MaxFields {
				key, val, ok := sc.next()
				if !ok {
					break
				}
				see(key, val)
			}
		}
		for i := range fs.fields {
			if fs.fields[i].op == "!=" && equal&(1<<i) == 0 {
				passed |= 1 << i
			}
		}
		if passed != 1<<len(fs.fields)-1 {
			return false
		}
	}
	head := cut(line, fs.prefix)
	for _, re := range fs.texts {
		if !re.MatchString(head) {
			return false
		}
	}
	return true
}

// cut returns line cut to at most n bytes, at a character's start.
func cut(line string, n int) string {
	if len(line) <= n {
		return line
	}
	for n > 0 && !utf8.RuneStart(line[n]) {
		n-- // not within a character
	}
	return line[:n]
}
