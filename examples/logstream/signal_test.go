package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The command (in demo mode) shuts down cleanly on SIGINT and SIGTERM: the
// open stream gets 1001 and the process exits 0.
func TestCommandStopsOnSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "LOGSTREAM_RUN_MAIN=1")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			addr := make(chan string, 1)
			exited := make(chan error, 1)
			go func() {
				re := regexp.MustCompile(`url=http://(\S+)`)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					if m := re.FindStringSubmatch(sc.Text()); m != nil {
						addr <- m[1]
					}
				}
				exited <- cmd.Wait()
			}()
			var host string
			select {
			case host = <-addr:
			case <-time.After(waitTimeout):
				t.Fatal("the command did not say where it listens")
			}
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/api/logs/stream?backfill=0", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			cmd.Process.Signal(sig)
			ws.SetReadDeadline(time.Now().Add(waitTimeout))
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
