// Package logline extracts the severity level, the timestamp and, from JSON
// and logfmt lines, the message and the fields of a log line, and filters
// lines by level, search text and field values.
package logline

import (
	"strings"
	"time"
)

// The normalised levels, from least to most severe.
const (
	LevelDebug = "debug"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// Info is what Parse found in a line.
type Info struct {
	// Level is one of LevelDebug, LevelInfo, LevelWarn, LevelError, or ""
	// when no level was detected.
	Level string
	// Time is the line's timestamp, or the zero Time when none was found.
	// A timestamp written without a zone is taken as UTC.
	Time time.Time
	// Msg is the message of a structured line: its field msg, message,
	// @message, log or event (in that order of preference; key names are
	// case-insensitive), a string; "" when it has none, and for a line
	// that is not structured.
	Msg string
	// Fields are the fields of a structured line, in the order written
	// (see Field), or nil for a line that is not structured: a line is
	// structured when it is a JSON object, or logfmt (nothing but at
	// least two key=value pairs, and not in braces as JSON is), of at
	// most MaxStructuredLine bytes.
	// Of a key written twice, a JSON line keeps the last value and a
	// logfmt line the first. At most MaxFields.
	Fields []Field
}

// Structured reports whether the line was parsed into fields.
func (info *Info) Structured() bool { return info.Fields != nil }

// Parse detects the level and time of one log line. It never fails: what it
// cannot recognise is left empty.
//
//   - A line that is a JSON object uses its top-level fields "level", "lvl",
//     "severity" or "log.level" (in that order of preference; key names are
//     case-insensitive) and "time", "ts", "timestamp" or "@timestamp".
//     Levels may be strings or pino/bunyan numbers (10 trace … 60 fatal);
//     times may be RFC 3339 strings or Unix times in seconds (or
//     milliseconds, microseconds, nanoseconds, told apart by magnitude).
//     Without a usable one, the level of an ECS-style nested object,
//     {"log":{"level":"warn"}}, is used. Other nested objects are not
//     looked at for the level and time.
//   - Otherwise logfmt pairs level=, lvl=, severity= or log.level= give
//     the level and time= or ts= the time (of each, the first pair that is
//     usable).
//   - Otherwise the first level word is used: an upper-case whole word such
//     as ERROR, WARN, WARNING, INFO, DEBUG, TRACE, FATAL, or a level in
//     brackets in any case, such as [error] or [Warn].
//   - Without a time field, a timestamp at the start of the line (RFC 3339,
//     or "2006-01-02 15:04:05" with optional fraction and zone, optionally in
//     brackets) is the time.
//
// Level names are normalised: trace→debug; notice→info; warning→warn;
// err, fatal, panic, critical, crit, alert, emerg→error.
//
// A structured line (see Info.Fields) also gets its message and its
// fields. The members of nested JSON objects are fields of their own,
// named by their path ({"req":{"method":"GET"}} is req.method=GET), down
// to MaxFieldDepth. It costs a few scans of the line and memory of about
// its length: no line is parsed into fields beyond MaxStructuredLine
// bytes, nor into more than MaxFields.
func Parse(line string) Info {
	if info, ok := parseJSON(line); ok {
		return info
	}
	info := parseLogfmt(line)
	if info.Level == "" {
		info.Level = plainLevel(line)
	}
	if info.Time.IsZero() {
		info.Time = leadingTime(line)
	}
	return info
}

// levelNames maps lower-case level names to normalised levels.
var levelNames = map[string]string{
	"trace": LevelDebug, "debug": LevelDebug, "dbg": LevelDebug,
	"info": LevelInfo, "information": LevelInfo, "informational": LevelInfo, "notice": LevelInfo,
	"warn": LevelWarn, "warning": LevelWarn,
	"error": LevelError, "err": LevelError, "fatal": LevelError, "panic": LevelError,
	"critical": LevelError, "crit": LevelError, "alert": LevelError,
	"emerg": LevelError, "emergency": LevelError,
}

// NormalizeLevel maps a level name in any case (e.g. "WARNING", "Fatal") to
// one of the normalised levels, or returns "" for an unknown name.
func NormalizeLevel(name string) string {
	name = strings.TrimSpace(name)
	if len(name) > len("informational") {
		return ""
	}
	return levelNames[strings.ToLower(name)]
}

// plainWords are the upper-case words taken as a level anywhere in a plain
// line.
var plainWords = map[string]bool{
	"TRACE": true, "DEBUG": true, "INFO": true, "NOTICE": true,
	"WARN": true, "WARNING": true, "ERROR": true, "ERR": true,
	"FATAL": true, "PANIC": true, "CRITICAL": true, "CRIT": true,
}

// plainLevel returns the level of the first level word in line.
func plainLevel(line string) string {
	for i := 0; i < len(line); {
		if !isWordByte(line[i]) {
			i++
			continue
		}
		j := i
		for j < len(line) && isWordByte(line[j]) {
			j++
		}
		word := line[i:j]
		if plainWords[word] {
			return levelNames[strings.ToLower(word)]
		}
		if i > 0 && line[i-1] == '[' && j < len(line) && line[j] == ']' {
			if lvl := NormalizeLevel(word); lvl != "" {
				return lvl
			}
		}
		i = j
	}
	return ""
}

// isWordByte reports whether b can be part of a word: ASCII letters, digits
// and "_" (so ERROR_CODE or E_ERROR are not the word ERROR).
func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}
