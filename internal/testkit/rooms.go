package testkit

import "strings"

// OddRooms returns awkward room names for tests of what carries rooms by
// name (subjects, tokens): NATS wildcards and separators, spaces and
// control characters, invalid UTF-8, and names around maxPlain bytes, the
// length up to which a name may be carried as it is.
func OddRooms(maxPlain int) []string {
	return []string{
		"plain",
		"a.b",
		"*",
		">",
		"a.*.>",
		"with space",
		"tab\tand\nnewline",
		"ünïcødé 房间",
		"\x00\xff\xfe", // not UTF-8
		"room/with/slashes?and=query#frag",
		"-_-",
		strings.Repeat("x", maxPlain),
		strings.Repeat("y", maxPlain+1),
		strings.Repeat("long.*> ", 1000),
	}
}
