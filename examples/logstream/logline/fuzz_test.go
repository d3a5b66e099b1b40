package logline

import "testing"

// FuzzParse checks that Parse never panics, always returns a normalised
// level and is deterministic, and that filtering a line never panics.
// Seeds live in testdata/fuzz/FuzzParse as well as here.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		`{"level":"info","ts":1709634030.5}`,
		`{"level":40,"time":1709634030123}`,
		`time=2024-03-05T10:20:30Z level=info msg="hello \"x\""`,
		"2024-03-05 10:20:30,250 [error] boom",
		"[2024-03-05T12:20:30+0200] WARNING x",
		`lvl="unterminated`,
		"2024-03-05T10:20:30.1234567891-07 x",
	} {
		f.Add(s)
	}
	var filters []*Filter
	for _, fs := range [][2]string{{"", ""}, {"warn", "o"}, {"debug", `/^\d{4}-|level=\w+/`}} {
		flt, err := NewFilter(fs[0], fs[1])
		if err != nil {
			f.Fatal(err)
		}
		filters = append(filters, flt)
	}
	f.Fuzz(func(t *testing.T, line string) {
		info := Parse(line)
		switch info.Level {
		case "", LevelDebug, LevelInfo, LevelWarn, LevelError:
		default:
			t.Fatalf("Parse(%q) level %q not normalised", line, info.Level)
		}
		if again := Parse(line); again.Level != info.Level || !again.Time.Equal(info.Time) {
			t.Fatalf("Parse(%q) not deterministic: %v then %v", line, info, again)
		}
		for _, flt := range filters {
			flt.Match(line, info)
		}
	})
}

// FuzzNewFilter feeds NewFilter what a client may send as a level and a
// search: it never panics, refuses what is over the limits, and a filter
// it accepts matches any line without panicking.
func FuzzNewFilter(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"warn", "timeout"}, {"error", "/^\\d{4}-/"}, {"info", "/(a|b)*c/"},
		{"", "/(?:x?){999}/"}, {"", "/[/"}, {"debug", "/(?i)ÉTÉ/"}, {"bogus", "x"},
	} {
		f.Add(s[0], s[1])
	}
	lines := []string{"", "2024-03-05 10:20:30 [error] timeout", `{"level":"warn","msg":"été"}`, "\xff\xfe"}
	f.Fuzz(func(t *testing.T, level, search string) {
		flt, err := NewFilter(level, search)
		if err != nil {
			return
		}
		if len(search) > MaxSearchLen {
			t.Fatalf("a search of %d bytes was accepted (limit %d)", len(search), MaxSearchLen)
		}
		for _, l := range lines {
			flt.Match(l, Parse(l))
		}
	})
}
