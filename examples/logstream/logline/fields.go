package logline

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Limits on the fields of a structured line, which Parse builds for every
// line of a file: what one line costs in time and memory stays a small
// multiple of its length.
const (
	// MaxStructuredLine is the longest line parsed into fields, in bytes.
	// A longer JSON or logfmt line is shown and searched as plain text
	// (its level and time are still detected).
	MaxStructuredLine = 64 << 10
	// MaxFields bounds the fields kept of a line (and the key=value pairs
	// a field search looks at in a plain line): the first ones written.
	MaxFields = 200
	// MaxFieldDepth is the deepest nesting of JSON objects flattened into
	// dotted keys: an object deeper than that is one field, as compact
	// JSON. Each level costs one more scan of the object.
	MaxFieldDepth = 6
	// maxFlatKey is the longest dotted key under which an object's members
	// are flattened; under a longer one the object is one field.
	maxFlatKey = 256
)

// Field is one field of a structured line.
type Field struct {
	// Key is the field's name as written. The members of a nested JSON
	// object are named by the path of keys joined with dots ("req.method").
	Key string
	// Value is the field's value as text: a string's contents (invalid
	// UTF-8 in a JSON string as U+FFFD); a number, true, false or null
	// as written; an array, an empty object or an object nested too
	// deep as compact JSON.
	Value string
	// Column is true for the fields that Info has on their own: the one
	// its Level, its Time and its Msg were read from.
	Column bool
}

// msgKeys are the keys of a structured line's message, in order of
// preference.
var msgKeys = []string{"msg", "message", "@message", "log", "event"}

// member is a member of a JSON object, its value not decoded.
type member struct {
	key string
	raw string // valid JSON
}

// jsonMembers returns the members of the JSON object s, in order. s must
// be valid JSON (json.Valid) whose value is an object. Only the members
// whose key want accepts are returned (want nil: all). Keys and values
// are parts of s but for keys that need decoding (escapes, invalid UTF-8).
func jsonMembers(s string, want func(key string) bool) []member {
	var members []member
	i := skipSpace(s, strings.IndexByte(s, '{')+1)
	for i < len(s) && s[i] == '"' {
		end := valueEnd(s, i)
		key := jsonString(s[i:end])
		i = skipSpace(s, skipSpace(s, end)+1) // the ":"
		end = valueEnd(s, i)
		if want == nil || want(key) {
			members = append(members, member{key, s[i:end]})
		}
		if i = skipSpace(s, end); i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
		}
	}
	return members
}

// skipSpace returns the index of the first byte of s from i on that is
// not JSON white space.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just after the valid JSON value that starts
// at s[i].
func valueEnd(s string, i int) int {
	switch s[i] {
	case '"':
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				j = valueEnd(s, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	default: // a number, true, false or null
		for j := i; j < len(s); j++ {
			switch s[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
		}
	}
	return len(s)
}

// jsonString returns the value of the valid JSON string raw: a part of it
// when it has no escape and is valid UTF-8, else decoded (invalid UTF-8
// as U+FFFD, as encoding/json does).
func jsonString(raw string) string {
	inner := raw[1 : len(raw)-1]
	if strings.IndexByte(inner, '\\') < 0 && utf8.ValidString(inner) {
		return inner
	}
	var s string
	json.Unmarshal([]byte(raw), &s)
	return s
}

// flattener collects the fields of a JSON object.
type flattener struct {
	fields []Field
}

// add adds the field key with the value raw, flattening an object at the
// given depth (1: a member of the line's object).
func (fl *flattener) add(key, raw string, depth int) {
	if len(fl.fields) >= MaxFields {
		return
	}
	switch raw[0] {
	case '{':
		if depth < MaxFieldDepth && len(key) <= maxFlatKey {
			if members := jsonMembers(raw, nil); len(members) > 0 {
				for _, m := range members {
					fl.add(key+"."+m.key, m.raw, depth+1)
				}
				return
			}
		}
		fl.fields = append(fl.fields, Field{Key: key, Value: compactJSON(raw)})
	case '[':
		fl.fields = append(fl.fields, Field{Key: key, Value: compactJSON(raw)})
	case '"':
		fl.fields = append(fl.fields, Field{Key: key, Value: jsonString(raw)})
	default: // a number, true, false or null, as written
		fl.fields = append(fl.fields, Field{Key: key, Value: raw})
	}
}

// compactJSON returns raw, valid JSON, without its insignificant spaces.
func compactJSON(raw string) string {
	if !strings.ContainsAny(raw, " \t\n\r") {
		return raw
	}
	var b bytes.Buffer
	if json.Compact(&b, []byte(raw)) != nil {
		return raw
	}
	return b.String()
}

// jsonFields returns the fields of a JSON line's members, in the order
// written, nested objects flattened; of the same key written twice, the
// last one is kept, as JSON decoders do. Whatever happens, at most
// MaxFields fields.
func jsonFields(members []member) []Field {
	fl := flattener{fields: make([]Field, 0, min(len(members), MaxFields))}
	for _, m := range members {
		fl.add(m.key, m.raw, 1)
	}
	return dedupe(fl.fields, true)
}

// dedupe returns fields without the ones whose key was already written
// (keepLast false) or is written again after (keepLast true).
func dedupe(fields []Field, keepLast bool) []Field {
	// drop[i] is true for an occurrence not kept.
	var drop []bool
	mark := func(i int) {
		if drop == nil {
			drop = make([]bool, len(fields))
		}
		drop[i] = true
	}
	if len(fields) <= 16 {
		for i := range fields {
			for j := i + 1; j < len(fields); j++ {
				if fields[i].Key == fields[j].Key {
					if keepLast {
						mark(i)
					} else {
						mark(j)
					}
				}
			}
		}
	} else { // the same, in linear time
		at := make(map[string]int, len(fields)) // the occurrence kept so far
		for i, f := range fields {
			prev, seen := at[f.Key]
			switch {
			case !seen:
				at[f.Key] = i
			case keepLast:
				mark(prev)
				at[f.Key] = i
			default:
				mark(i)
			}
		}
	}
	if drop == nil {
		return fields
	}
	out := make([]Field, 0, len(fields))
	for i, f := range fields {
		if !drop[i] {
			out = append(out, f)
		}
	}
	return out
}

// markColumns marks the fields named by the keys Info's columns were read
// from ("" for a column read from none).
func markColumns(fields []Field, keys ...string) {
	for i := range fields {
		for _, k := range keys {
			if k != "" && fields[i].Key == k {
				fields[i].Column = true
			}
		}
	}
}

// isJSONObject reports whether line, trimmed, has the shape of a JSON
// object: the lines not searched for key=value pairs when they are not
// structured.
func isJSONObject(line string) bool {
	s := strings.TrimSpace(line)
	return len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}'
}

// Size returns about how many bytes the fields of info hold, besides the
// line they were parsed from: for a memory budget that counts lines.
func (info *Info) Size() int {
	n := len(info.Msg)
	for _, f := range info.Fields {
		n += len(f.Key) + len(f.Value) + 40 // the Field itself
	}
	return n
}
