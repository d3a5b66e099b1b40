package logline

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFieldSearch(t *testing.T) {
	lines := []string{
		`{"level":"info","msg":"GET /","status":200,"user":"ann","ms":12.5}`,          // 0
		`{"level":"error","msg":"GET /pay timeout","status":502,"user":"Bob"}`,        // 1
		`time=2024-03-05T10:20:30Z level=warn msg="slow query" status=500 user=ann`,   // 2
		"2024-03-05 10:20:31 ERROR payment failed status=503 user=carl took=7ms",      // 3: plain, with pairs
		`{"req":{"method":"POST","status":"404"},"user":"ann smith"}`,                 // 4: nested, a number in a string
		"INFO no fields here, a=b in words",                                           // 5: plain
		`{"status":"n/a","note":"status=500 in a string is not a field"}`,             // 6
		`{"level":"warn","msg":"<img src=x onerror=alert(1)>","<b>k</b>":"<i>v</i>"}`, // 7
	}
	tests := []struct {
		search string
		want   []int
	}{
		{"status>=500", []int{1, 2, 3}},
		{"status>500", []int{1, 3}},
		{"status<500", []int{0}},
		{"status<=200", []int{0}},
		{"status=200", []int{0}},
		{"status=200.0", []int{0}},
		{"status!=200", []int{1, 2, 3, 4, 5, 6, 7}}, // a line without the field passes !=
		{"status=N/A", []int{6}},
		{"user=ann", []int{0, 2}},
		{"USER=ANN", []int{0, 2}},
		{"user=an", nil}, // whole values only
		{"user!=ann", []int{1, 3, 4, 5, 6, 7}},
		{`user="ann smith"`, []int{4}},
		{"req.status>=400", []int{4}}, // nested, a number in a string
		{"req.method=post", []int{4}},
		{"ms>12", []int{0}},
		{"ms<12.6", []int{0}},
		{"status>=500 user=ann", []int{2}},     // AND
		{"status>=500 timeout", []int{1}},      // a field term and text
		{"status>=500 TIMEOUT /pay", []int{1}}, // text terms are substrings
		{`status>=200 "slow query"`, []int{2}}, // a quoted phrase
		{`"a=b" level=info`, nil},              // quoted: text, and level=info is not there
		{`"a=b" status!=1`, []int{5}},          // quoted text "a=b" is not a field term
		{"took=7ms", []int{3}},                 // pairs of a plain line
		{"a=b", []int{5}},                      // the pairs of a plain line are fields
		{"level=error", []int{1}},              // the level field as written ("ERROR" in 3 is a word)
		{"msg=timeout", nil},                   // whole value
		{`<b>k</b>=<i>v</i>`, nil},             // not field syntax: a substring, in no line
		{"user=ann status", []int{0, 2}},       // "status" as text
		{`msg="<img src=x onerror=alert(1)>"`, []int{7}},
		// No field term: the whole search is one substring, as before.
		{"payment failed", []int{3}},
		{"failed payment", nil},
		{`say "hi`, nil},
		{"a=b in words", []int{5}}, // a field term: three terms
	}
	for _, tt := range tests {
		t.Run(tt.search, func(t *testing.T) {
			f, err := NewFilter("", tt.search)
			if err != nil {
				t.Fatalf("NewFilter(%q): %v", tt.search, err)
			}
			var got []int
			for i, l := range lines {
				if f.Match(l, Parse(l)) {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("search %q matches lines %v, want %v", tt.search, got, tt.want)
			}
		})
	}
}

// TestFieldSearchWithLevel: the level control and a field search both
// apply.
func TestFieldSearchWithLevel(t *testing.T) {
	f, err := NewFilter("error", "status>=500")
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]bool{
		`{"level":"error","status":500}`: true,
		`{"level":"warn","status":500}`:  false,
		`{"level":"error","status":404}`: false,
	} {
		if got := f.Match(line, Parse(line)); got != want {
			t.Errorf("%s: %v, want %v", line, got, want)
		}
	}
}

func TestFieldSearchRefused(t *testing.T) {
	for _, tt := range []struct{ search, want string }{
		{"status>=abc", `search term "status>=abc": >= compares numbers, and "abc" is not one`},
		{"status>", `> compares numbers, and "" is not one`},
		{"n<0x10", "< compares numbers"},
		{"n>NaN", "> compares numbers"},
		{"n>1e999", "> compares numbers"},
		{`user="ann`, ""}, // unterminated: a substring, accepted
		{`user="a"b x=1`, `the value "a"b is not a quoted string`},
		{`"a"b x=1`, `search term "a"b: not a quoted string`},
		{strings.Repeat("a=1 ", MaxSearchTerms) + "b=2", fmt.Sprintf("search of %d terms (at most %d)", MaxSearchTerms+1, MaxSearchTerms)},
	} {
		f, err := NewFilter("", tt.search)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("NewFilter(%q): %v", tt.search, err)
		case tt.want != "" && (err == nil || f != nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("NewFilter(%q) = %v, %v; want an error containing %q", tt.search, f, err, tt.want)
		}
	}
}

func TestSplitTerms(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  a  b\tc ", []string{"a", "b", "c"}},
		{`user="ann smith" "two words" x`, []string{`user="ann smith"`, `"two words"`, "x"}},
		{`"a \" b" c`, []string{`"a \" b"`, "c"}},
		{`"open`, nil},
		{`x="a\`, nil},
	} {
		got, _ := splitTerms(tt.in)
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitTerms(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for tok, want := range map[string]bool{
		"a=b": true, "a.b>=1": true, "@t<2": true, "é=x": true, "a-b!=c": true, "k==v": true,
		"=b": false, ".a=b": false, "a.=b": false, "a-=b": false, "x->y": false, "http://h?a=b": false,
		"a": false, "-a=b": false, "a b=c": false,
	} {
		if got := isFieldTerm(tok); got != want {
			t.Errorf("isFieldTerm(%q) = %v, want %v", tok, got, want)
		}
	}
}

// TestFieldSearchLineBudget: a field search costs little on lines of
// 1 MiB, structured or not, whatever its terms, within the per-line budget
// of a regular expression.
func TestFieldSearchLineBudget(t *testing.T) {
	var pairs strings.Builder
	for pairs.Len() < 1<<20 {
		fmt.Fprintf(&pairs, "k%d=%d ", pairs.Len(), pairs.Len())
	}
	lines := []string{
		strings.Repeat("a", 1<<20) + " status=500",
		pairs.String(),
		`{"msg":"` + strings.Repeat("x", 1<<20) + `","status":500}`,
		strings.Repeat("é", 1<<19),
	}
	terms := strings.TrimSpace(strings.Repeat("k1=x ", MaxSearchTerms-4)) + " status>=500 zzzz yyyy xxxx"
	f, err := NewFilter("", terms)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		info := Parse(l)
		start := time.Now()
		for range 10 {
			f.Match(l, info)
		}
		if d := time.Since(start) / 10; d > lineTimeBound/5 {
			t.Errorf("line %d (%d bytes): a field search took %v", i, len(l), d)
		}
	}
	// The pairs past the first MaxFields, or past MaxLineWork bytes, are
	// not looked at.
	far, err := NewFilter("", "status=500")
	if err != nil {
		t.Fatal(err)
	}
	if far.Match(lines[0], Parse(lines[0])) {
		t.Error("a pair past MaxLineWork bytes was found")
	}
	near := "a=1 " + strings.Repeat("x ", 1000) + "status=500"
	if !far.Match(near, Parse(near)) {
		t.Error("a pair among words was not found")
	}
}
