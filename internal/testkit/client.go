package testkit

import (
	"io"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"
)

// Dial opens a WebSocket connection to url (ws://…), its handshake bounded
// by Wait. Upgraded, the status is 101. Refused, it returns the status and
// body of the answer, if any, with the error.
func Dial(url string) (ws *websocket.Conn, status int, body string, err error) {
	d := websocket.Dialer{HandshakeTimeout: Wait}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			status = resp.StatusCode
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		return nil, status, body, err
	}
	return ws, http.StatusSwitchingProtocols, "", nil
}

// Get fetches url with c and returns the response (its body read and
// closed) and the body. An error fails the test.
func Get(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
