package client

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDeclarationsMatchTheScript: sockets.d.ts declares what sockets.js
// has, no more, no less: its options, its members, its states and its
// events.
func TestDeclarationsMatchTheScript(t *testing.T) {
	js, ts := string(script), string(types)
	for _, c := range []struct {
		what       string
		script, dt []string
	}{
		{"options",
			names(`(?m)^    (\w+): `, block(t, js, "const defaults = {\n", "\n  };")),
			names(`(?m)^    (\w+)\?: `, block(t, ts, "interface Options {\n", "\n  }"))},
		{"members",
			names(`self\.(\w+) = |defineProperty\(self, "(\w+)"`, js),
			names(`(?m)^  (?:readonly )?(\w+)[(:]`, block(t, ts, "declare class Sockets extends EventTarget {\n", "\n}\n"))},
		{"states",
			names(`setStatus\("(\w+)"`, js),
			names(`"(\w+)"`, block(t, ts, "type State = ", ";"))},
		{"events",
			names(`emit\("(\w+)"`, js),
			names(`(?m)^    (\w+): CustomEvent`, block(t, ts, "interface EventMap {\n", "\n  }"))},
	} {
		dt := slices.DeleteFunc(c.dt, func(s string) bool {
			return s == "constructor" || s == "addEventListener" || s == "removeEventListener"
		})
		if len(c.script) == 0 || !slices.Equal(c.script, dt) {
			t.Errorf("%s: sockets.js has %q, sockets.d.ts declares %q", c.what, c.script, dt)
		}
	}
}

// block returns the text of s between start and the first end after it.
func block(t *testing.T, s, start, end string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("no %q", start)
	}
	in, _, ok := strings.Cut(after, end)
	if !ok {
		t.Fatalf("no %q after %q", end, start)
	}
	return in
}

// names returns the sorted, distinct first non-empty groups of re in s.
func names(re, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		for _, g := range m[1:] {
			if g != "" {
				out = append(out, g)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
