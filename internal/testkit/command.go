package testkit

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// Command is the test binary running as the command under test, in a
// child process: its TestMain calls main when the environment says so.
type Command struct {
	Cmd    *exec.Cmd
	Stderr *SyncBuffer   // what it wrote to standard error so far
	Addr   chan string   // where it listens, once it says so
	Exited chan struct{} // closed when it has exited, with Err set
	Err    error
}

// StartCommand runs the test binary with env added to its environment. A
// line of its standard error that matches listening gives its address (the
// first group) on Addr. The process is killed at the end of the test, and
// its standard error is logged if the test failed.
func StartCommand(t *testing.T, env []string, listening *regexp.Regexp) *Command {
	t.Helper()
	c := &Command{
		Cmd:    exec.Command(os.Args[0], "-test.run=^$"),
		Stderr: &SyncBuffer{},
		Addr:   make(chan string, 1),
		Exited: make(chan struct{}),
	}
	c.Cmd.Env = append(os.Environ(), env...)
	pipe, err := c.Cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			c.Stderr.Write([]byte(sc.Text() + "\n"))
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				c.Addr <- m[1]
			}
		}
		c.Err = c.Cmd.Wait()
		close(c.Exited)
	}()
	t.Cleanup(func() {
		c.Cmd.Process.Kill()
		select {
		case <-c.Exited:
		case <-time.After(Wait):
		}
		if t.Failed() {
			t.Logf("command's stderr:\n%s", c.Stderr)
		}
	})
	return c
}

// Listening waits for the command to say where it listens.
func (c *Command) Listening(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-c.Addr:
		return addr
	case <-c.Exited:
		t.Fatalf("the command exited before listening: %v", c.Err)
	case <-time.After(Wait):
		t.Fatal("the command did not say where it listens")
	}
	return ""
}

// WaitExit waits for the command to end and fails the test unless it exits
// with status 0.
func (c *Command) WaitExit(t *testing.T, after string) {
	t.Helper()
	select {
	case <-c.Exited:
		if c.Err != nil {
			t.Errorf("exit after %s: %v, want status 0", after, c.Err)
		}
	case <-time.After(Wait):
		t.Errorf("the command did not exit after %s", after)
	}
}
