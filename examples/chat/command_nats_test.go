package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// command is the chat command running in a child process.
type command struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	addr   chan string   // where it listens, once it says so
	exited chan struct{} // closed when it has exited, with err set
	err    error
}

// startCommand runs the test binary as the chat command with args added.
func startCommand(t *testing.T, args string) *command {
	t.Helper()
	c := &command{
		cmd:    exec.Command(os.Args[0], "-test.run=^$"),
		stderr: &syncBuffer{},
		addr:   make(chan string, 1),
		exited: make(chan struct{}),
	}
	c.cmd.Env = append(os.Environ(), "CHAT_RUN_MAIN=1", "CHAT_MAIN_ARGS="+args)
	pipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		re := regexp.MustCompile(`listening on http://(\S+)`)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			c.stderr.Write([]byte(sc.Text() + "\n"))
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				c.addr <- m[1]
			}
		}
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		select {
		case <-c.exited:
		case <-time.After(waitTimeout):
		}
		if t.Failed() {
			t.Logf("command's stderr:\n%s", c.stderr)
		}
	})
	return c
}

// The command refuses to start without the NATS server it is told to use.
func TestCommandFailsWithoutNATS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + ln.Addr().String()
	ln.Close()
	c := startCommand(t, "-nats "+url)
	select {
	case <-c.exited:
		if ee, ok := c.err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
			t.Errorf("exit: %v, want a failure", c.err)
		}
		if got := c.stderr.String(); !strings.Contains(got, "nats-server running at "+url) || strings.Contains(got, "listening") {
			t.Errorf("stderr does not say what is missing:\n%s", got)
		}
	case <-c.addr:
		t.Fatal("the command listens without NATS")
	case <-time.After(waitTimeout):
		t.Fatal("the command did not exit")
	}
}

// The command with -nats shares its rooms with another instance, and on
// SIGTERM its members leave the room on the other instance too.
func TestCommandSharesRoomsThroughNATS(t *testing.T) {
	s := startNATS(t, -1)
	B := newInstance(t, s.ClientURL(), "B")
	c := startCommand(t, "-nats "+s.ClientURL())
	var host string
	select {
	case host = <-c.addr:
	case <-time.After(waitTimeout):
		t.Fatal("the command did not say where it listens")
	}
	eventually(t, "B knows of the command", func() error {
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

	c.cmd.Process.Signal(syscall.SIGTERM)
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
	select {
	case <-c.exited:
		if c.err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", c.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the command did not exit after SIGTERM")
	}
}
