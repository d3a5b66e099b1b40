package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The chat is a lesson in using the library: its Go, tests aside, stays
// under 800 lines, and its README section under 40. A feature that needs
// more belongs in the library.
func TestChatStaysSmall(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines += strings.Count(string(data), "\n")
	}
	if lines == 0 || lines >= 800 {
		t.Errorf("the chat's non-test Go is %d lines, want under 800", lines)
	}

	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## The chat\n")
	if !ok {
		t.Fatal(`the README has no "## The chat" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	if n := strings.Count(strings.TrimSpace(section), "\n") + 2; n >= 40 {
		t.Errorf("the README's chat section is %d lines with its heading, want under 40", n)
	}
}
