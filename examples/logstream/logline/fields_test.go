package logline

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// fieldsString writes fields as key=value pairs separated by spaces, a
// column's key marked with "*": compact wants for table tests.
func fieldsString(fields []Field) string {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		if f.Column {
			b.WriteByte('*')
		}
		b.WriteString(f.Key + "=" + f.Value)
	}
	return b.String()
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		name, line string
		msg        string
		fields     string // fieldsString; "-" for a line that is not structured
	}{
		{"json", `{"time":"2024-03-05T10:20:30Z","level":"info","msg":"hello","status":500,"user":"ann"}`,
			"hello", "*time=2024-03-05T10:20:30Z *level=info *msg=hello status=500 user=ann"},
		{"json values as written", `{"n":1.50,"big":12345678901234567890,"ok":true,"none":null,"tags":[1, "a" ,{"b":2}],"empty":{}}`,
			"", `n=1.50 big=12345678901234567890 ok=true none=null tags=[1,"a",{"b":2}] empty={}`},
		{"json nested flattened", `{"req":{"method":"GET","url":{"path":"/x"}},"msg":"done"}`,
			"done", "req.method=GET req.url.path=/x *msg=done"},
		{"json too deep", `{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}`,
			"", `a.b.c.d.e.f={"g":1}`},
		{"json message keys", `{"message":"second","@message":"third","Msg":"first in rank"}`,
			"first in rank", "message=second @message=third *Msg=first in rank"},
		{"json msg not a string", `{"msg":{"text":"x"},"log":"from log"}`,
			"from log", "msg.text=x *log=from log"},
		{"json unusable level is a field", `{"level":"loud","severity":"warn"}`,
			"", "level=loud *severity=warn"},
		{"json pino level", `{"level":30,"time":1709634030123,"msg":"m"}`,
			"m", "*level=30 *time=1709634030123 *msg=m"},
		{"json duplicate: last wins", `{"user":"a","x":1,"user":"b"}`, "", "x=1 user=b"},
		{"json escapes and markup", `{"<img src=x onerror=alert(1)>":"<b>\u00e9</b>\n"}`,
			"", "<img src=x onerror=alert(1)>=<b>é</b>\n"},
		{"json empty object", `{}`, "", ""},
		{"json invalid UTF-8 in a string", "{\"k\":\"a\xffb\"}", "", "k=a\uFFFDb"},
		{"logfmt", `time=2024-03-05T10:20:30Z level=warn msg="disk \"almost\" full" pct=91`,
			`disk "almost" full`, `*time=2024-03-05T10:20:30Z *level=warn *msg=disk "almost" full pct=91`},
		{"logfmt empty value", `a= b=1`, "", "a= b=1"},
		{"logfmt duplicate: first wins", `user=a user=b`, "", "user=a"},
		{"logfmt dotted key", `log.level=error http.status=502`, "", "*log.level=error http.status=502"},
		{"json nested level is a column", `{"log":{"level":"warn","logger":"db"},"msg":"m"}`, "m", "*log.level=warn log.logger=db *msg=m"},
		{"logfmt one pair is plain", `status=500`, "", "-"},
		{"logfmt with words is plain", `2024-03-05 10:20:30 INFO user=ann status=500`, "", "-"},
		{"markup in words is plain", `ERROR agent <img src=x onerror=alert(1)> rejected`, "", "-"},
		{"logfmt unterminated quote is plain", `a=1 msg="open`, "", "-"},
		{"logfmt quote then text is plain", `a=1 msg="x"y`, "", "-"},
		{"plain", "INFO started", "", "-"},
		{"broken json", `{"a":1,}`, "", "-"},
		{"two json objects", `{"a":1} {"b":2}`, "", "-"},
		{"json array", `[{"a":1}]`, "", "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info := Parse(tc.line)
			got := "-"
			if info.Structured() {
				got = fieldsString(info.Fields)
			}
			if got != tc.fields || info.Msg != tc.msg {
				t.Errorf("Parse(%q):\n fields %q\n msg %q\nwant\n fields %q\n msg %q", tc.line, got, info.Msg, tc.fields, tc.msg)
			}
		})
	}
}

// TestParseFieldsBounds: a line past MaxStructuredLine is not parsed into
// fields (its level is still found); no line has more than MaxFields; a
// deep or long-keyed nesting is cut, so that keys stay short.
func TestParseFieldsBounds(t *testing.T) {
	long := `{"level":"error","msg":"` + strings.Repeat("x", MaxStructuredLine) + `"}`
	if info := Parse(long); info.Structured() || info.Level != LevelError || info.Msg != "" {
		t.Errorf("a JSON line of %d bytes: structured %v, level %q, msg of %d bytes; want plain, error, none", len(long), info.Structured(), info.Level, len(info.Msg))
	}
	longLogfmt := "a=1 b=" + strings.Repeat("y", MaxStructuredLine)
	if info := Parse(longLogfmt); info.Structured() {
		t.Error("a logfmt line over the limit was parsed into fields")
	}

	var members, pairs []string
	for i := range 3 * MaxFields {
		members = append(members, fmt.Sprintf(`"k%d":%d`, i, i))
		pairs = append(pairs, fmt.Sprintf("k%d=%d", i, i))
	}
	for _, line := range []string{"{" + strings.Join(members, ",") + "}", strings.Join(pairs, " ")} {
		info := Parse(line)
		if len(info.Fields) != MaxFields || info.Fields[0].Key != "k0" || info.Fields[MaxFields-1].Key != fmt.Sprintf("k%d", MaxFields-1) {
			t.Errorf("%.20s…: %d fields, want the first %d", line, len(info.Fields), MaxFields)
		}
	}

	// A long key: its object is one field, not repeated under each member.
	key := strings.Repeat("k", 1000)
	var inner []string
	for i := range 50 {
		inner = append(inner, fmt.Sprintf(`"m%d":%d`, i, i))
	}
	line := `{"` + key + `":{` + strings.Join(inner, ",") + `}}`
	info := Parse(line)
	if len(info.Fields) != 1 || info.Size() > 2*len(line)+100 {
		t.Errorf("a long key over 50 members: %d fields of %d bytes, want 1 of about %d", len(info.Fields), info.Size(), len(line))
	}
	// Deep nesting: the members below MaxFieldDepth are one value.
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	info = Parse(deep)
	if len(info.Fields) != 1 || strings.Count(info.Fields[0].Key, ".") != MaxFieldDepth-1 {
		t.Errorf("nesting 5000 deep: %d fields, the first %.40q", len(info.Fields), fieldsString(info.Fields))
	}
}

// TestParseJSONLikeDecoders: Parse takes a line for JSON exactly when
// encoding/json decodes it as an object.
func TestParseJSONLikeDecoders(t *testing.T) {
	for _, line := range []string{
		`{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":[1,2}`, `{"a":01}`, `{,}`,
		`{"a":1}}`, `{"a":"\x"}`, `{"a":1e5}`, `{"a":-}`, " {\"a\":\"\t\"} ", `{"a":{"b":}}`,
	} {
		var m map[string]any
		want := json.Unmarshal([]byte(line), &m) == nil
		if _, got := parseJSON(line); got != want {
			t.Errorf("parseJSON(%q) ok = %v, want %v", line, got, want)
		}
	}
}
