package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestEchoApp(t *testing.T) {
	srv := httptest.NewServer(newApp("127.0.0.1:4000"))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "new WebSocket") {
		t.Fatalf("GET /: got %d, want the page with its socket script", resp.StatusCode)
	}

	// A browser sends its page's origin.
	h := http.Header{"Origin": {srv.URL}}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", h)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	ws.WriteJSON(Message{Text: "<b>hi</b>"})
	var got Message
	if err := ws.ReadJSON(&got); err != nil || got.Text != "<b>hi</b>" {
		t.Errorf("echo: got %+v, %v", got, err)
	}
}
