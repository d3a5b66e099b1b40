package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names and rooms come in through URLs and forms; every way in trims them
// (cleanName, cleanRoom) and refuses the same ones: empty, too long,
// invalid UTF-8, with an invisible character (a zero-width space or a bidi
// control would make a name look like another), or "." and "..", which
// browsers resolve in a path. Lookalikes made of visible characters
// (Cyrillic "ann") need confusables tables the standard library lacks.

// cleanName trims a client's name; reason says why it cannot be one, or "".
func cleanName(raw string) (name, reason string) {
	name = strings.TrimSpace(raw)
	return name, checkName(name)
}

// cleanRoom trims a room's name; reason says why it cannot be one, or "".
func cleanRoom(raw string) (room, reason string) {
	room = strings.TrimSpace(raw)
	return room, checkRoom(room)
}

func checkName(name string) string { return checkLabel(name, "name", maxNameRunes) }
func checkRoom(name string) string { return checkLabel(name, "room", maxRoomRunes) }

// checkLabel returns why s cannot be a what of at most max characters, or
// "".
func checkLabel(s, what string, max int) string {
	reason := ""
	switch {
	case s == "":
		reason = "it is empty"
	case s != strings.TrimSpace(s):
		reason = "it starts or ends with a space"
	case utf8.RuneCountInString(s) > max:
		reason = fmt.Sprintf("longer than %d characters", max)
	case s == "." || s == "..":
		reason = `"." and ".." cannot be used in an address`
	case !utf8.ValidString(s):
		reason = "is not valid UTF-8"
	}
	for _, r := range s {
		if reason == "" && invisible(r) {
			reason = fmt.Sprintf("has an invisible or control character (%U)", r)
		}
	}
	if reason == "" {
		return ""
	}
	return "invalid " + what + ": " + reason
}

// invisible reports whether r shows nothing or changes how its neighbours
// show: what unicode.IsGraphic refuses (controls, zero-width and bidi
// format characters, private use, unassigned), the other default-ignorable
// code points, and U+2800 BRAILLE PATTERN BLANK, which trimming keeps.
func invisible(r rune) bool {
	return !unicode.IsGraphic(r) ||
		unicode.Is(unicode.Variation_Selector, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		r == '\u2800'
}
