package client

import "testing"

// ScriptTag names the content's version and hash, and escapes the path.
func TestScriptTag(t *testing.T) {
	got := string(ScriptTag(`/s"x.js`))
	want := `<script src="/s&#34;x.js?v=` + Version() + `" integrity="` + Integrity() + `" crossorigin="anonymous" defer></script>`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
