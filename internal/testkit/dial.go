package testkit

import (
	"io"
	"net/http"

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
