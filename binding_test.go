package sockets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

type message struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

func TestMessagesOrderBothWays(t *testing.T) {
	ts := newTestServer(t, Messages(quiet()), echoStrings)
	ws := ts.dial(t, nil)
	const n = 200
	go func() {
		for i := 0; i < n; i++ {
			ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("m%d", i)))
		}
	}()
	for i := 0; i < n; i++ {
		mt, got := readText(t, ws)
		if want := fmt.Sprintf("m%d", i); mt != websocket.TextMessage || got != want {
			t.Fatalf("message %d: got type %d %q, want text %q", i, mt, got, want)
		}
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestByteSliceMessagesBinaryFrames(t *testing.T) {
	ts := newTestServer(t, ByteSliceMessages(quiet()), echo[[]byte])
	ws := ts.dial(t, nil)
	for i := 0; i < 100; i++ {
		payload := []byte{byte(i), 0, 0xff, byte(i >> 8)}
		if err := ws.WriteMessage(websocket.BinaryMessage, payload); err != nil {
			t.Fatal(err)
		}
		mt, got := readText(t, ws)
		if mt != websocket.BinaryMessage || !bytes.Equal([]byte(got), payload) {
			t.Fatalf("message %d: got type %d %x, want binary %x", i, mt, got, payload)
		}
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestByteSliceReceivedIsHandlersOwn(t *testing.T) {
	got := make(chan []byte, 2)
	ts := newTestServer(t, ByteSliceMessages(quiet()), func(receiver <-chan []byte, done <-chan bool) {
		got <- <-receiver
		got <- <-receiver
		<-done
	})
	ws := ts.dial(t, nil)
	ws.WriteMessage(websocket.BinaryMessage, []byte("first"))
	ws.WriteMessage(websocket.BinaryMessage, []byte("other"))
	a, b := recv(t, got, "first message"), recv(t, got, "second message")
	if string(a) != "first" || string(b) != "other" {
		t.Errorf("got %q then %q, want \"first\" then \"other\" (a reused buffer?)", a, b)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestJSONEachFrameIsANewValue(t *testing.T) {
	got := make(chan *message, 10)
	ts := newTestServer(t, JSON(message{}, quiet()), func(receiver <-chan *message, sender chan<- *message, done <-chan bool) {
		for {
			select {
			case m := <-receiver:
				got <- m
				sender <- m
			case <-done:
				return
			}
		}
	})
	ws := ts.dial(t, nil)
	for i := 0; i < 3; i++ {
		ws.WriteJSON(message{Seq: i, Text: "hi"})
	}
	var seen []*message
	for i := 0; i < 3; i++ {
		m := recv(t, got, "decoded message")
		if m.Seq != i || m.Text != "hi" {
			t.Errorf("decoded %d: got %+v", i, *m)
		}
		for _, prev := range seen {
			if prev == m {
				t.Errorf("decoded %d reuses the pointer of an earlier message", i)
			}
		}
		seen = append(seen, m)
		mt, frame := readText(t, ws)
		var back message
		if err := json.Unmarshal([]byte(frame), &back); mt != websocket.TextMessage || err != nil || back.Seq != i {
			t.Errorf("frame %d: got type %d %q (%v), want one JSON text frame with seq %d", i, mt, frame, err, i)
		}
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestJSONAcceptsPointerBindStruct(t *testing.T) {
	ts := newTestServer(t, JSON(&message{}, quiet()), func(receiver <-chan *message, sender chan<- *message, done <-chan bool) {
		sender <- <-receiver
		<-done
	})
	ws := ts.dial(t, nil)
	ws.WriteJSON(message{Seq: 7})
	var back message
	ws.SetReadDeadline(timeIn())
	if err := ws.ReadJSON(&back); err != nil || back.Seq != 7 {
		t.Errorf("got %+v, %v; want seq 7", back, err)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

// TestJSONSignatureFromDesign compiles and runs the handler signature the
// README promises, exactly as written.
func TestJSONSignatureFromDesign(t *testing.T) {
	type Message = message
	ts := newTestServer(t, JSON(Message{}, quiet()), func(receiver <-chan *Message, sender chan<- *Message, done <-chan bool, disconnect chan<- int, errs <-chan error) {
		for {
			select {
			case msg := <-receiver:
				sender <- msg
			case <-done:
				return
			}
		}
	})
	ws := ts.dial(t, nil)
	ws.WriteJSON(Message{Seq: 1, Text: "x"})
	if _, frame := readText(t, ws); frame != `{"seq":1,"text":"x"}` {
		t.Errorf("got %s", frame)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestBadJSONIsAnErrorAndTheConnectionLives(t *testing.T) {
	errs := make(chan error, 1)
	ts := newTestServer(t, JSON(message{}, quiet()), func(receiver <-chan *message, sender chan<- *message, done <-chan bool, e <-chan error) {
		select {
		case err := <-e:
			errs <- err
		case <-done:
			return
		}
		sender <- <-receiver
		<-done
	})
	ws := ts.dial(t, nil)
	bad := `{"seq": "not a number", "text": "` + string(bytes.Repeat([]byte("x"), 1000)) + `"}`
	ws.WriteMessage(websocket.TextMessage, []byte(bad))
	ws.WriteJSON(message{Seq: 2})
	err := recv(t, errs, "error")
	de, ok := err.(*DecodeError)
	if !ok {
		t.Fatalf("got %T %v, want *DecodeError", err, err)
	}
	if len(de.Payload) > maxPayloadShown+len("…") || !bytes.HasPrefix([]byte(bad), []byte(de.Payload[:maxPayloadShown])) {
		t.Errorf("payload: got %q, want the first %d bytes of the message", de.Payload, maxPayloadShown)
	}
	if _, frame := readText(t, ws); frame != `{"seq":2,"text":""}` {
		t.Errorf("after bad JSON: got %s, want the next message echoed", frame)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

type withFloat struct {
	F float64 `json:"f"`
}

// A value that cannot be encoded is reported and skipped; the writer lives
// on (the package we replace stopped or spun its send loop here).
func TestEncodeErrorSkipsTheValue(t *testing.T) {
	errs := make(chan error, 1)
	ts := newTestServer(t, JSON(withFloat{}, quiet()), func(sender chan<- *withFloat, done <-chan bool, e <-chan error) {
		sender <- &withFloat{F: math.Inf(1)}
		sender <- &withFloat{F: 1.5}
		select {
		case err := <-e:
			errs <- err
		case <-done:
		}
		<-done
	})
	ws := ts.dial(t, nil)
	if _, frame := readText(t, ws); frame != `{"f":1.5}` {
		t.Errorf("got %s, want the encodable value", frame)
	}
	if err := recv(t, errs, "error"); !isEncodeError(err) {
		t.Errorf("got %T %v, want *EncodeError", err, err)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func isEncodeError(err error) bool {
	_, ok := err.(*EncodeError)
	return ok
}

// MaxMessageSize math.MaxInt64 is the way to say "no limit" (zero is the
// default): messages must arrive whole, not empty.
func TestMaxMessageSizeWithoutALimit(t *testing.T) {
	opts := quiet()
	opts.MaxMessageSize = math.MaxInt64
	ts := newTestServer(t, Messages(opts), echoStrings)
	ws := ts.dial(t, nil)
	ws.WriteMessage(websocket.TextMessage, []byte("hello"))
	if _, got := readText(t, ws); got != "hello" {
		t.Errorf("got %q, want \"hello\"", got)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

// fragile's JSON methods panic on some input, as buggy user types do.
type fragile struct{ Items []string }

func (f *fragile) UnmarshalJSON(b []byte) error {
	var items []string
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	f.Items = items[:1] // panics on []
	return nil
}

func (f fragile) MarshalJSON() ([]byte, error) {
	return json.Marshal(f.Items[0]) // panics with no items
}

// A panic in the bound type's own JSON methods, whether a client's message
// causes it or a value the handler sends, costs that message only: an
// error on errs, the connection and the process live on.
func TestPanicInJSONMethodsCostsOneMessage(t *testing.T) {
	errs := make(chan error, 10)
	ts := newTestServer(t, JSON(fragile{}, quiet()), serveUntilDone(errs, func(m *fragile, sender chan<- *fragile) {
		sender <- &fragile{} // cannot be encoded
		sender <- m
	}))
	ws := ts.dial(t, nil)
	ws.WriteMessage(websocket.TextMessage, []byte(`[]`)) // cannot be decoded
	var de *DecodeError
	if err := recv(t, errs, "the decode error"); !errors.As(err, &de) || !strings.Contains(err.Error(), "panic") {
		t.Errorf("errs: got %v, want a *DecodeError telling of the panic", err)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`["a","b"]`))
	var ee *EncodeError
	if err := recv(t, errs, "the encode error"); !errors.As(err, &ee) || !strings.Contains(err.Error(), "panic") {
		t.Errorf("errs: got %v, want an *EncodeError telling of the panic", err)
	}
	if _, got := readText(t, ws); got != `"a"` {
		t.Errorf("got %q, want \"a\"", got)
	}
	ws.Close()
	ts.waitFinished(t, 1)
}
