package main

import (
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"go.uber.org/goleak"
)

// TestMain fails the run when the tests leave goroutines behind: every
// connection's handler and goroutines must end once its client is gone.
// With CHAT_RUN_MAIN=1 the test binary is the chat command itself, on an
// embedded NATS server whatever NATS_URL says, with CHAT_MAIN_ARGS added to
// its arguments.
func TestMain(m *testing.M) {
	if os.Getenv("CHAT_RUN_MAIN") == "1" {
		os.Args = append([]string{"chat", "-addr", "127.0.0.1:0", "-nats="}, strings.Fields(os.Getenv("CHAT_MAIN_ARGS"))...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// startCommand runs the test binary as the chat command with args added.
func startCommand(t *testing.T, args string) *testkit.Command {
	t.Helper()
	args = "-data " + t.TempDir() + " " + args // not the user's
	return testkit.StartCommand(t, []string{"CHAT_RUN_MAIN=1", "CHAT_MAIN_ARGS=" + args}, listeningLine)
}

// listeningLine is the command's log line saying where it listens.
var listeningLine = regexp.MustCompile(`listening on http://(\S+)`)

// The command shuts down cleanly on SIGINT and SIGTERM: open sockets get
// 1001 and the process exits 0.
func TestCommandStopsOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			c := startCommand(t, "")
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+c.Listening(t)+"/sockets/rooms/r/ann", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			ws.SetReadDeadline(time.Now().Add(testkit.Wait))
			ws.ReadMessage() // members: the member is in
			c.Cmd.Process.Signal(sig)
			for {
				_, _, err := ws.ReadMessage()
				if err == nil {
					continue
				}
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Errorf("socket on %v: got %v, want close 1001", sig, err)
				}
				break
			}
			c.WaitExit(t, sig.String())
		})
	}
}
