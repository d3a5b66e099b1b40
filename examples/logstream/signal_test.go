package main

import (
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// The command (in demo mode) shuts down cleanly on SIGINT and SIGTERM: the
// open stream gets 1001 and the process exits 0.
func TestCommandStopsOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			c := testkit.StartCommand(t, []string{"LOGSTREAM_RUN_MAIN=1"}, regexp.MustCompile(`url=http://(\S+)`))
			host := c.Listening(t)
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/api/logs/stream?backfill=0", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			c.Cmd.Process.Signal(sig)
			ws.SetReadDeadline(time.Now().Add(testkit.Wait))
			for {
				_, _, err := ws.ReadMessage()
				if err == nil {
					continue // demo lines
				}
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Errorf("stream on %v: got %v, want close 1001", sig, err)
				}
				break
			}
			c.WaitExit(t, sig.String())
		})
	}
}
