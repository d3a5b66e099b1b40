package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets"
	"net/http/httptest"
)

func TestBenchProtocol(t *testing.T) {
	hub, err := sockets.NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newApp(hub))
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	dial := func(path string) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		t.Cleanup(func() { ws.Close() })
		return ws
	}

	echo := dial("/echo")
	echo.WriteMessage(websocket.TextMessage, []byte("ping"))
	if _, p, err := echo.ReadMessage(); err != nil || string(p) != "ping" {
		t.Errorf("echo: got %q, %v", p, err)
	}

	a, b := dial("/broadcast"), dial("/broadcast")
	deadline := time.Now().Add(5 * time.Second)
	for hub.Count(room) != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	a.WriteMessage(websocket.TextMessage, []byte("to all"))
	for name, ws := range map[string]*websocket.Conn{"sender": a, "other": b} {
		if mt, p, err := ws.ReadMessage(); err != nil || mt != websocket.TextMessage || string(p) != "to all" {
			t.Errorf("broadcast to %s: got %d %q, %v", name, mt, p, err)
		}
	}
}
