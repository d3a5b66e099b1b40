package sockets_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"gopkg.in/macaron.v1"
)

// Message is the JSON message of the quickstart.
type Message struct {
	Text string `json:"text"`
}

// The README's quickstart: an echo endpoint over JSON.
func Example() {
	m := macaron.New()
	m.Get("/ws", sockets.JSON(Message{}), func(receiver <-chan *Message, sender chan<- *Message,
		done <-chan bool, disconnect chan<- int, errs <-chan error) {
		for {
			select {
			case msg := <-receiver:
				sender <- msg
			case <-done:
				return
			}
		}
	})

	srv := httptest.NewUnstartedServer(m) // or: sockets.NewServer(m) and ListenAndServe
	srv.Config = sockets.NewServer(m)
	srv.Start()
	defer srv.Close()

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ws.Close()
	ws.WriteJSON(Message{Text: "hello"})
	var reply Message
	ws.ReadJSON(&reply)
	fmt.Println(reply.Text)
	// Output: hello
}

// Messages binds text messages to string channels; a close code sent on
// disconnect closes the connection with that code.
func ExampleMessages() {
	m := macaron.New()
	m.Get("/shout", sockets.Messages(), func(receiver <-chan string, sender chan<- string, disconnect chan<- int, done <-chan bool) {
		for {
			select {
			case msg := <-receiver:
				if msg == "bye" {
					disconnect <- websocket.CloseNormalClosure
					continue
				}
				sender <- strings.ToUpper(msg)
			case <-done:
				return
			}
		}
	})

	srv := httptest.NewServer(m)
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/shout", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte("hi"))
	_, reply, _ := ws.ReadMessage()
	fmt.Println(string(reply))
	ws.WriteMessage(websocket.TextMessage, []byte("bye"))
	_, _, err = ws.ReadMessage()
	fmt.Println(websocket.IsCloseError(err, websocket.CloseNormalClosure))
	// Output:
	// HI
	// true
}

// A Hub fans messages out to rooms; handlers join their connection.
func ExampleHub() {
	hub, err := sockets.NewHub(nil) // in-process; HubOptions.Broker links instances
	if err != nil {
		fmt.Println(err)
		return
	}
	m := macaron.New()
	m.Get("/rooms/:room", sockets.Messages(), func(ctx *macaron.Context, c *sockets.Conn, receiver <-chan string, done <-chan bool) {
		room := ctx.Params("room")
		hub.Join(room, c) // leaves by itself when the connection ends
		for {
			select {
			case msg := <-receiver:
				hub.PublishExcept(room, c, websocket.TextMessage, []byte(msg))
			case <-done:
				return
			}
		}
	})
	srv := httptest.NewServer(m)
	defer srv.Close()

	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/rooms/go"
	alice, _, _ := websocket.DefaultDialer.Dial(url, nil)
	defer alice.Close()
	bob, _, _ := websocket.DefaultDialer.Dial(url, nil)
	defer bob.Close()
	for hub.Count("go") < 2 {
		time.Sleep(time.Millisecond)
	}
	alice.WriteMessage(websocket.TextMessage, []byte("hi bob"))
	_, got, _ := bob.ReadMessage()
	fmt.Println(string(got))
	// Output: hi bob
}

// The README's history example: a client that comes back with the last
// position it saw gets what it missed, then live messages.
func ExampleHub_JoinSince() {
	hub, _ := sockets.NewHub(&sockets.HubOptions{
		History:  sockets.NewMemoryHistory(&sockets.HistoryOptions{Size: 100}),
		Presence: sockets.NewMemoryPresence(nil),
	})
	m := macaron.New()
	m.Get("/rooms/:room", sockets.Messages(), func(ctx *macaron.Context, c *sockets.Conn,
		receiver <-chan string, sender chan<- string, done <-chan bool) {
		room := ctx.Params("room")
		if _, err := hub.Claim(ctx.Req.Context(), room, c, ctx.Query("name"), nil); err != nil {
			c.Close(4409, "name taken")
			return
		}
		since, _ := sockets.ParsePosition(ctx.Query("since"))
		if err := hub.JoinSince(ctx.Req.Context(), room, c, since); err != nil {
			sender <- `{"error":"reload"}`
			return
		}
		for {
			select {
			case msg := <-receiver:
				hub.Publish(room, sockets.TextMessage, []byte(msg))
			case <-done:
				return
			}
		}
	})
	srv := httptest.NewServer(m)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/rooms/lobby?name="
	show := func(frame []byte) { // the epoch is new in each process
		var f struct{ Pos, Text string }
		json.Unmarshal(frame, &f)
		pos, _ := sockets.ParsePosition(f.Pos)
		fmt.Println(pos.Offset, f.Text)
	}

	ann, _, err := websocket.DefaultDialer.Dial(url+"ann", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ann.WriteMessage(websocket.TextMessage, []byte(`{"text":"one"}`))
	_, first, _ := ann.ReadMessage()
	show(first)
	ann.Close()

	// bob is away while "two" is said, then comes back since "one".
	bob, _, _ := websocket.DefaultDialer.Dial(url+"bob", nil)
	_, seen, _ := bob.ReadMessage() // history: "one"
	bob.WriteMessage(websocket.TextMessage, []byte(`{"text":"two"}`))
	bob.ReadMessage()
	bob.Close()
	var f struct{ Pos string }
	json.Unmarshal(seen, &f)
	again, _, _ := websocket.DefaultDialer.Dial(url+"bob2&since="+f.Pos, nil)
	defer again.Close()
	_, missed, _ := again.ReadMessage()
	show(missed)
	// Output:
	// 1 one
	// 2 two
}
