package logline

import (
	"strings"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

type parseCase struct {
	name  string
	line  string
	level string
	time  time.Time
}

func runParse(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(tc.line)
			if got.Level != tc.level || !got.Time.Equal(tc.time) {
				t.Errorf("Parse(%q) = {%q, %v}, want {%q, %v}", tc.line, got.Level, got.Time, tc.level, tc.time)
			}
		})
	}
}

func TestParseJSON(t *testing.T) {
	ts := utc("2024-03-05T10:20:30.123456789Z")
	runParse(t, []parseCase{
		{"level and time", `{"level":"info","time":"2024-03-05T10:20:30.123456789Z","msg":"hi"}`, "info", ts},
		{"upper-case value", `{"level":"ERROR","msg":"x"}`, "error", time.Time{}},
		{"lvl", `{"lvl":"warning"}`, "warn", time.Time{}},
		{"severity", `{"severity":"CRITICAL","timestamp":"2024-03-05T11:20:30.123456789+01:00"}`, "error", ts},
		{"key case", `{"Level":"Debug","TS":"2024-03-05T10:20:30.123456789Z"}`, "debug", ts},
		{"@timestamp ECS", `{"@timestamp":"2024-03-05T10:20:30Z","log.level":"notice"}`, "info", utc("2024-03-05T10:20:30Z")},
		{"level preferred to severity", `{"severity":"error","level":"trace"}`, "debug", time.Time{}},
		{"time preferred to ts", `{"ts":"2020-01-01T00:00:00Z","time":"2024-03-05T10:20:30Z"}`, "", utc("2024-03-05T10:20:30Z")},
		{"unusable level ignored", `{"level":"loud","severity":"fatal"}`, "error", time.Time{}},
		{"zap unix seconds", `{"level":"info","ts":1709634030.5}`, "info", utc("2024-03-05T10:20:30.5Z")},
		{"pino millis and number level", `{"level":40,"time":1709634030123}`, "warn", utc("2024-03-05T10:20:30.123Z")},
		{"pino fatal", `{"level":60}`, "error", time.Time{}},
		{"number level out of range", `{"level":7}`, "", time.Time{}},
		{"numeric string time", `{"time":"1709634030"}`, "", utc("2024-03-05T10:20:30Z")},
		{"bad time", `{"time":"yesterday","level":"info"}`, "info", time.Time{}},
		{"no fields", `{"msg":"ERROR in message is not a level"}`, "", time.Time{}},
		{"nested level ignored", `{"a":{"level":"error"}}`, "", time.Time{}},
		{"leading space", `  {"level":"warn"}  `, "warn", time.Time{}},
		{"duplicate keys: exact name wins", `{"LEVEL":"warn","level":"error","Time":"2020-01-01T00:00:00Z","time":"2024-03-05T10:20:30Z"}`, "error", utc("2024-03-05T10:20:30Z")},
		{"duplicate keys: unusable exact name", `{"Level":"warn","level":"loud","LEVEL":"error"}`, "error", time.Time{}},
		{"null level", `{"level":null}`, "", time.Time{}},
		// Not valid JSON: falls back to the plain-text rules.
		{"broken JSON", `{"level":"info" ERROR`, "error", time.Time{}},
		{"ECS nested level", `{"@timestamp":"2024-03-05T10:20:30Z","log":{"level":"warning","logger":"db"},"message":"m"}`, "warn", utc("2024-03-05T10:20:30Z")},
		{"nested level key case", `{"Log":{"LEVEL":"error"}}`, "error", time.Time{}},
		{"top-level level preferred to nested", `{"log":{"level":"error"},"level":"info"}`, "info", time.Time{}},
		{"unusable top-level level, nested one", `{"level":"loud","log":{"level":"debug"}}`, "debug", time.Time{}},
		{"log not an object", `{"log":"level error"}`, "", time.Time{}},
		{"level deeper than log.level ignored", `{"log":{"origin":{"level":"error"}}}`, "", time.Time{}},
		{"nested level of a long line", `{"log":{"level":"error"},"pad":"` + strings.Repeat("x", MaxStructuredLine) + `"}`, "error", time.Time{}},
		{"exact parent preferred", `{"LOG":{"level":"error"},"log":{"level":"info"}}`, "info", time.Time{}},
	})
}

func TestParseLogfmt(t *testing.T) {
	runParse(t, []parseCase{
		{"basic", `time=2024-03-05T10:20:30Z level=info msg="hello world"`, "info", utc("2024-03-05T10:20:30Z")},
		{"quoted values", `ts="2024-03-05T10:20:30.5+00:00" lvl="WARN" msg="a \"quoted\" ERROR"`, "warn", utc("2024-03-05T10:20:30.5Z")},
		{"severity", `severity=err component=db`, "error", time.Time{}},
		{"log.level", `log.level=warn component=db`, "warn", time.Time{}},
		{"unix ts", `ts=1709634030 level=debug`, "debug", utc("2024-03-05T10:20:30Z")},
		{"key in value not a key", `msg="level=error" level=info`, "info", time.Time{}},
		{"unknown level value falls back to words", `level=5 ERROR boom`, "error", time.Time{}},
		{"odd tokens", `= =x "unterminated level=error`, "", time.Time{}},
		{"level in message key ignored", `mylevel=error`, "", time.Time{}},
		{"leading time without time key", `2024-03-05 10:20:30 level=fatal`, "error", utc("2024-03-05T10:20:30Z")},
	})
}

func TestParsePlain(t *testing.T) {
	runParse(t, []parseCase{
		{"rfc3339 and word", "2024-03-05T10:20:30Z ERROR disk full", "error", utc("2024-03-05T10:20:30Z")},
		{"space time", "2024-03-05 10:20:30 WARN slow", "warn", utc("2024-03-05T10:20:30Z")},
		{"comma millis", "2024-03-05 10:20:30,250 INFO [main] started", "info", utc("2024-03-05T10:20:30.25Z")},
		{"zone hhmm", "2024-03-05T12:20:30.1+0200 DEBUG x", "debug", utc("2024-03-05T10:20:30.1Z")},
		{"zone hh", "2024-03-05T12:20:30-02 INFO x", "info", utc("2024-03-05T14:20:30Z")},
		{"bracketed time", "[2024-03-05 10:20:30] [error] oops", "error", utc("2024-03-05T10:20:30Z")},
		{"bracketed level any case", "[Warn] deprecated", "warn", time.Time{}},
		{"warning word", "WARNING: low memory", "warn", time.Time{}},
		{"trace", "TRACE enter f()", "debug", time.Time{}},
		{"fatal", "FATAL cannot continue", "error", time.Time{}},
		{"panic", "PANIC: runtime error", "error", time.Time{}},
		{"notice", "NOTICE reloading", "info", time.Time{}},
		{"first word wins", "INFO request ended with ERROR status", "info", time.Time{}},
		{"lower-case prose is not a level", "no error occurred, info sent", "", time.Time{}},
		{"part of a word", "ERRORS=0 INFORMATIONAL E_ERROR WARN_ON", "", time.Time{}},
		{"colon suffix", "something ERROR: bad", "error", time.Time{}},
		{"bracketed unknown", "[main] started", "", time.Time{}},
		{"invalid date", "2024-13-45 10:20:30 INFO x", "info", time.Time{}},
		{"time not at start", "at 2024-03-05 10:20:30", "", time.Time{}},
		{"short", "2024-03-05", "", time.Time{}},
		{"empty", "", "", time.Time{}},
	})
}

func TestNormalizeLevel(t *testing.T) {
	for in, want := range map[string]string{
		"TRACE": "debug", "debug": "debug", "Info": "info", "notice": "info",
		"warn": "warn", "WARNING": "warn", "err": "error", "Fatal": "error",
		"panic": "error", "critical": "error", "crit": "error", " error ": "error",
		"verbose": "", "": "", "informationalxxxxxxxx": "",
	} {
		if got := NormalizeLevel(in); got != want {
			t.Errorf("NormalizeLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnixTimeMagnitudes(t *testing.T) {
	want := utc("2024-03-05T10:20:30Z")
	for _, n := range []float64{1709634030, 1709634030e3, 1709634030e6, 1709634030e9} {
		got, ok := unixTime(n)
		if !ok || !got.Equal(want) {
			t.Errorf("unixTime(%g) = %v, %v; want %v", n, got, ok, want)
		}
	}
	for _, n := range []float64{0, -5, 1e21} {
		if _, ok := unixTime(n); ok {
			t.Errorf("unixTime(%g) accepted", n)
		}
	}
}
