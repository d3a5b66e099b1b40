package main

import (
	"fmt"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/internal/testkit/natstest"
)

// The command refuses to start without the NATS server it is told to use.
func TestCommandFailsWithoutNATS(t *testing.T) {
	url := "nats://" + testkit.UnusedAddr(t)
	c := startCommand(t, "-nats "+url)
	select {
	case <-c.Exited:
		if ee, ok := c.Err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
			t.Errorf("exit: %v, want a failure", c.Err)
		}
		if got := c.Stderr.String(); !strings.Contains(got, "nats-server running at "+url) || strings.Contains(got, "listening") {
			t.Errorf("stderr does not say what is missing:\n%s", got)
		}
	case <-c.Addr:
		t.Fatal("the command listens without NATS")
	case <-time.After(testkit.Wait):
		t.Fatal("the command did not exit")
	}
}

// The command with -nats shares its rooms with another instance, and on
// SIGTERM its members leave the room on the other instance too.
func TestCommandSharesRoomsThroughNATS(t *testing.T) {
	s := natstest.Start(t, -1)
	B := newInstance(t, s.ClientURL(), "B")
	c := startCommand(t, "-nats "+s.ClientURL())
	host := c.Listening(t)
	testkit.EventuallyNoError(t, "B knows of the command", func() error {
		if n := B.app.nats.peerCount(); n != 1 {
			return fmt.Errorf("B knows %d peers", n)
		}
		return nil
	})
	ann, err := (&testServer{Server: &httptest.Server{URL: "http://" + host}}).tryJoin("r", "ann")
	if err != nil {
		t.Fatal(err)
	}
	defer ann.close()
	bob := B.join(t, "r", "bob")
	if want := []string{"ann", "bob"}; !reflect.DeepEqual(bob.members, want) {
		t.Errorf("bob's members on B: %q, want %q", bob.members, want)
	}
	ann.expect(t, status("bob", "joined"))
	bob.say(t, "hello across")
	ann.expect(t, msg("bob", "hello across"))

	c.Cmd.Process.Signal(syscall.SIGTERM)
	for {
		_, err := ann.next()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("ann's socket on SIGTERM: got %v, want close 1001", err)
		}
		break
	}
	bob.expect(t, status("ann", "left"))
	c.WaitExit(t, "SIGTERM")
}
