package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// TestMain fails the run when the tests leave goroutines behind: every
// connection's handler and goroutines must end once its client is gone.
// With CHAT_RUN_MAIN=1 the test binary is the chat command itself, a
// single instance whatever NATS_URL says, with CHAT_MAIN_ARGS added to its
// arguments.
func TestMain(m *testing.M) {
	if os.Getenv("CHAT_RUN_MAIN") == "1" {
		os.Args = append([]string{"chat", "-addr", "127.0.0.1:0", "-nats="}, strings.Fields(os.Getenv("CHAT_MAIN_ARGS"))...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// The command shuts down cleanly on SIGINT and SIGTERM: open sockets get
// 1001 and the process exits 0.
func TestCommandStopsOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "CHAT_RUN_MAIN=1")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			addr := make(chan string, 1)
			go func() {
				re := regexp.MustCompile(`listening on http://(\S+)`)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					if m := re.FindStringSubmatch(sc.Text()); m != nil {
						addr <- m[1]
					}
				}
				exited <- cmd.Wait()
			}()
			defer cmd.Process.Kill()
			var host string
			select {
			case host = <-addr:
			case <-time.After(waitTimeout):
				t.Fatal("the command did not say where it listens")
			}
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/sockets/rooms/r/ann", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			ws.SetReadDeadline(time.Now().Add(waitTimeout))
			ws.ReadMessage() // members: the member is in
			cmd.Process.Signal(sig)
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
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit after %v: %v, want status 0", sig, err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("the command did not exit after %v", sig)
			}
		})
	}
}
