package sockets

import (
	"testing"
	"unicode/utf8"
)

// The text of Autobahn's 6.4 cases, and others: utf8Prefix must refuse a
// text as soon as its bytes can no longer begin valid UTF-8 (the byte that
// makes it invalid is given), and accept every prefix of a valid one.
func TestUTF8FailsFast(t *testing.T) {
	kosme := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	cases := []struct {
		name string
		text string
		bad  int // index of the byte from which no completion is valid; -1: valid
	}{
		{"6.4.1 codepoint 0x110000", kosme + "\xf4\x90\x80\x80" + "edited", len(kosme) + 1},
		{"6.4.2 0xF4 then 0x90", kosme + "\xf4" + "\x90\x80\x80edited", len(kosme) + 1},
		{"valid kosme", kosme + "edited", -1},
		{"four-byte rune", "a\xf0\x9f\x98\x80b", -1},
		{"U+FFFD itself", "\xef\xbf\xbd", -1},
		{"noncharacter U+FFFF", "\xef\xbf\xbf", -1},
		{"last code point U+10FFFF", "\xf4\x8f\xbf\xbf", -1},
		{"lone continuation", "ab\x80", 2},
		{"overlong two bytes", "\xc0\xaf", 0},
		{"overlong three bytes", "\xe0\x80\xaf", 1},
		{"overlong four bytes", "\xf0\x80\x80\xaf", 1},
		{"surrogate", "\xed\xa0\x80", 1},
		{"five-byte form", "\xf8\x88\x80\x80\x80", 0},
		{"0xFE", "x\xfe", 1},
		{"truncated then ASCII", "\xe2\x82x", 2},
	}
	for _, tc := range cases {
		b := []byte(tc.text)
		var u utf8Prefix
		for i := 1; i <= len(b); i++ {
			ok := u.valid(b[:i])
			want := tc.bad < 0 || i <= tc.bad
			if ok != want {
				t.Errorf("%s: after %d bytes %q: valid %v, want %v", tc.name, i, b[:i], ok, want)
				break
			}
			if !ok {
				break
			}
		}
		var whole utf8Prefix
		if got, want := whole.complete(b), utf8.Valid(b); got != want {
			t.Errorf("%s: complete %v, want %v", tc.name, got, want)
		}
	}
	var u utf8Prefix
	if u.complete([]byte("ok\xe2\x82")) {
		t.Error("a text that stops in a rune is complete")
	}
}

// Whatever the bytes and however they arrive, utf8Prefix never refuses a
// valid text, never accepts an invalid one as complete, and once it has
// refused, the bytes so far are the start of no valid text.
func FuzzUTF8Prefix(f *testing.F) {
	f.Add([]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited"), uint8(3))
	f.Add([]byte("Hello-µ@ßöäüàá-UTF-8!!"), uint8(1))
	f.Add([]byte("\xf0\x9f\x98\x80\xed\xa0\x80"), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		n := int(step%8) + 1
		var u utf8Prefix
		ok := true
		at := 0
		for at < len(b) && ok {
			at = min(at+n, len(b))
			ok = u.valid(b[:at])
		}
		valid := utf8.Valid(b)
		if valid && !ok {
			t.Fatalf("refused valid %q at %d", b, at)
		}
		if ok && at == len(b) && u.complete(b) != valid {
			t.Fatalf("complete(%q) = %v, utf8.Valid %v", b, !valid, valid)
		}
		if !ok {
			// No completion of b[:at] of up to three bytes is valid: the
			// refusal was not early.
			for _, tail := range [][]byte{{0x80}, {0xbf}, {0x80, 0x80}, {0xbf, 0xbf}, {0x80, 0x80, 0x80}, {0xbf, 0xbf, 0xbf}, {0xa0, 0x80}, {0x90, 0x80, 0x80}} {
				if utf8.Valid(append(b[:at:at], tail...)) {
					t.Fatalf("refused %q, which %x completes", b[:at], tail)
				}
			}
		}
	})
}
