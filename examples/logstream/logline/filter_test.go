package logline

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFilter(t *testing.T) {
	lines := []string{
		`{"level":"debug","msg":"cache Miss"}`, // 0
		"INFO user alice logged in",            // 1
		"WARN disk 91% full",                   // 2
		"ERROR request 42 failed: timeout",     // 3
		"    at main.go:12",                    // 4: no level
		"FATAL out of memory",                  // 5
	}
	tests := []struct {
		name     string
		minLevel string
		search   string
		want     []int // indexes of matching lines
	}{
		{"all", "", "", []int{0, 1, 2, 3, 4, 5}},
		{"debug keeps unleveled", "debug", "", []int{0, 1, 2, 3, 4, 5}},
		{"info", "info", "", []int{1, 2, 3, 5}},
		{"warn", "warn", "", []int{2, 3, 5}},
		{"warning alias", "WARNING", "", []int{2, 3, 5}},
		{"error", "error", "", []int{3, 5}},
		{"fatal alias is error", "fatal", "", []int{3, 5}},
		{"substring any case", "", "MISS", []int{0}},
		{"substring with regexp chars", "", "91%", []int{2}},
		{"substring dot is literal", "", "main.go", []int{4}},
		{"substring no match", "", "main_go", nil},
		{"regexp", "", `/request \d+/`, []int{3}},
		{"regexp case-insensitive", "", `/^(info|warn)\b/`, []int{1, 2}},
		{"regexp alternation whole", "", `/alice|memory/`, []int{1, 5}},
		{"empty regexp", "", "//", []int{0, 1, 2, 3, 4, 5}},
		{"lone slash is substring", "", "/", nil},
		{"level and search", "warn", "/o/", []int{3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.minLevel, tt.search)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for i, l := range lines {
				if f.Match(l, Parse(l)) {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("matched %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	for _, tt := range []struct{ minLevel, search, want string }{
		{"loud", "", "unknown level"},
		{"", "/a(b/", "invalid search regexp"},
		{"", "/[z-a]/", "invalid search regexp"},
		{"", "bad \xff utf-8", "invalid search text"},
	} {
		f, err := NewFilter(tt.minLevel, tt.search)
		if err == nil || f != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewFilter(%q, %q) = %v, %v; want error containing %q", tt.minLevel, tt.search, f, err, tt.want)
		}
	}
}

func TestNilAndZeroFilterMatchAll(t *testing.T) {
	var nilFilter *Filter
	if !nilFilter.Match("x", Info{}) || !(&Filter{}).Match("x", Info{}) {
		t.Error("nil or zero Filter rejected a line")
	}
}

// TestFilterCostLimits: a search too long, or whose program is too large
// (counted repetitions make a short expression huge), is refused before
// it can slow a file's follower down; everyday expressions pass.
func TestFilterCostLimits(t *testing.T) {
	huge := "/" + strings.Repeat(`(?:x?){999}`, 46) + "/" // 508 bytes, ~92000 instructions
	for _, tt := range []struct {
		name, search, want string // want "": accepted
	}{
		{"substring at the limit", strings.Repeat("a", MaxSearchLen), ""},
		{"substring over the limit", strings.Repeat("a", MaxSearchLen+1), "too long"},
		{"regexp over the limit", "/" + strings.Repeat("a|", MaxSearchLen/2) + "/", "too long"},
		{"optional repeated", huge, "too complex"},
		{"dot repeated", "/.{1000}/", "too complex"},
		{"nested repetitions", "/((a{30}){30})/", "too complex"},
		{"long literal repeated", "/(?:abcdefghijklmnopqrstuvwxyz){50}/", "too complex"},
		{"unbounded after a large minimum", "/(?:x?){600,}/", "too complex"},
		{"ip address", `/\b\d{1,3}(\.\d{1,3}){3}\b/`, ""},
		{"sha256", "/[a-f0-9]{64}/", ""},
		{"dot repeated below the limit", "/.{400}/", ""},
		{"alternation", `/request \d+ (failed|timeout|refused)/`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter("", tt.search)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || f != nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, %v; want an error containing %q", f, err, tt.want)
			}
		})
	}

	// Refusing the huge one does not build its program first.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	NewFilter("", huge)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing a huge expression allocated %d bytes", n)
	}
}

// TestFilterLineBudget: a costly regexp is matched against the start of a
// long line only, so that one line costs milliseconds, not seconds; a
// substring is looked for in the whole line.
func TestFilterLineBudget(t *testing.T) {
	long := strings.Repeat("a", 1<<20) + "\x01 needle"
	costly, err := NewFilter("", `/(?s:.{0,490})\x01/`)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if costly.Match(long, Info{}) {
		t.Error("matched beyond the bytes it may search")
	}
	if d := time.Since(start); d > lineTimeBound {
		t.Errorf("one line of 1 MiB took %v, want within %v", d, lineTimeBound)
	}
	if !costly.Match("abc\x01", Info{}) {
		t.Error("no match in a short line")
	}
	simple, err := NewFilter("", `/needle$/`)
	if err != nil {
		t.Fatal(err)
	}
	if simple.Match(long, Info{}) {
		t.Error("a simple regexp searched 1 MiB")
	}
	if !simple.Match(strings.Repeat("é", 1000)+" needle", Info{}) {
		t.Error("a simple regexp did not search a line of 2 KB")
	}
	sub, err := NewFilter("", "NEEDLE")
	if err != nil {
		t.Fatal(err)
	}
	if !sub.Match(long, Info{}) {
		t.Error("a substring was not looked for in the whole line")
	}
}
