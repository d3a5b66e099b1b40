package sockets

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// FuzzJSONDecode feeds the JSON binding's decode path arbitrary frames: it
// must never panic, must fail with a *DecodeError carrying a bounded
// payload, and what it accepts must encode back to JSON that decodes to the
// same value.
func FuzzJSONDecode(f *testing.F) {
	for _, seed := range []string{
		`{"seq":1,"text":"hi"}`,
		`{"seq":"x"}`,
		`null`,
		`[]`,
		`{"text":"\u003cimg src=x onerror=alert(1)\u003e"}`,
		`{"seq":1e400}`,
		"{\"text\":\"\xff\"}",
		`{"seq":1,"seq":2}`,
		``,
	} {
		f.Add([]byte(seed))
	}
	jc := jsonCodec(reflect.TypeOf(message{}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := jc.decode(websocket.TextMessage, frame)
		if err != nil {
			de, ok := err.(*DecodeError)
			if !ok {
				t.Fatalf("decode error of type %T, want *DecodeError", err)
			}
			if len(de.Payload) > maxPayloadShown+len("…") {
				t.Fatalf("payload in error not bounded: %d bytes", len(de.Payload))
			}
			return
		}
		got := (*message)(p)
		_, out, err := jc.encode(nil, p)
		if err != nil {
			t.Fatalf("encoding an accepted value: %v", err)
		}
		var back message
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-decoding %q: %v", out, err)
		}
		if utf8.ValidString(got.Text) && back != *got {
			t.Fatalf("round trip: got %+v, want %+v", back, *got)
		}
	})
}
