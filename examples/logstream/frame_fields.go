package main

import (
	"bytes"
	"encoding/json"

	"github.com/macaron-contrib/sockets/examples/logstream/logline"
)

// frameFields are the fields of a structured line as its frame carries
// them: a JSON object of each key to its value as text, in the order of
// the line, without the fields that the frame has on their own (those its
// time, level and msg were read from).
type frameFields []logline.Field

// MarshalJSON writes the object, its keys in the line's order, markup as
// it is (as encodeFrame writes the line).
func (ff frameFields) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	n := 0
	for _, f := range ff {
		if f.Column {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		for i, s := range []string{f.Key, f.Value} {
			if i == 1 {
				b.WriteByte(':')
			}
			if err := enc.Encode(s); err != nil { // invalid UTF-8 as U+FFFD
				return nil, err
			}
			b.Truncate(b.Len() - 1) // Encode's newline
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
