package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names and rooms come in through URLs and forms. Every way in (the
// socket's URL, the room page, the lobby's form) trims them with cleanName
// and cleanRoom, so that "ann " is "ann" and "general " is "general"
// everywhere, and checks them with the same rules:
//
//   - not empty, and at most maxNameRunes (names) or maxRoomRunes (rooms)
//     characters once trimmed;
//   - valid UTF-8 made of visible characters only (see invisible): a name
//     with a zero-width space or a bidi control in it would look like
//     another one;
//   - not "." or "..": browsers resolve those in a URL's path, so such a
//     room's page, or such a member's socket, could not be opened.
//
// Lookalikes made of visible characters ("ann" in Cyrillic letters,
// composed and decomposed accents) are not caught: that needs Unicode
// normalisation and confusables tables, which the standard library lacks.

// cleanName trims a client's name as it comes in. It returns the name to
// use and why it cannot be one, or "".
func cleanName(raw string) (name, reason string) {
	name = strings.TrimSpace(raw)
	return name, checkName(name)
}

// cleanRoom trims a room's name as it comes in. It returns the name to use
// and why it cannot be one, or "".
func cleanRoom(raw string) (room, reason string) {
	room = strings.TrimSpace(raw)
	return room, checkRoom(room)
}

// checkName returns why name, trimmed already, cannot be a client's name,
// or "".
func checkName(name string) string { return checkLabel(name, "name", maxNameRunes) }

// checkRoom returns why name, trimmed already, cannot be a room's name, or
// "".
func checkRoom(name string) string { return checkLabel(name, "room", maxRoomRunes) }

// checkLabel returns why s, trimmed already, cannot be a what ("name" or
// "room") of at most max characters, or "".
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
	default:
		reason = checkRunes(s)
	}
	if reason == "" {
		return ""
	}
	return "invalid " + what + ": " + reason
}

// checkRunes returns why s cannot be part of a name, or "".
func checkRunes(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if invisible(r) {
			return fmt.Sprintf("has an invisible or control character (%U)", r)
		}
	}
	return ""
}

// invisible reports whether r is a character that shows nothing, or
// changes how the characters around it show, rather than showing itself:
//
//   - anything unicode.IsGraphic refuses: controls, format characters
//     (category Cf: zero-width spaces and joiners, the bidi controls such
//     as U+202E, U+2060 WORD JOINER, soft hyphens, tags), line and
//     paragraph separators, private-use and unassigned code points;
//   - the other default-ignorable code points, which fonts draw as
//     nothing: variation selectors, Hangul fillers, U+034F COMBINING
//     GRAPHEME JOINER;
//   - U+2800 BRAILLE PATTERN BLANK, a blank that trimming does not remove.
//
// Emoji sequences that need a joiner or a variation selector are refused
// with them.
func invisible(r rune) bool {
	return !unicode.IsGraphic(r) ||
		unicode.Is(unicode.Variation_Selector, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		r == '\u2800'
}
