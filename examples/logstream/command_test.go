package main

import (
	"net"
	"net/http"
	"regexp"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// The command, without -allowed-hosts, serves the names of its -addr
// (127.0.0.1 here) only: a DNS-rebinding page's Host gets 403 on the
// stream and on the page, the listen address's names are served.
func TestCommandServesOnlyItsListenHosts(t *testing.T) {
	c := testkit.StartCommand(t, []string{"LOGSTREAM_RUN_MAIN=1"}, regexp.MustCompile(`url=http://(\S+)`))
	addr := c.Listening(t)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	stream := "ws://" + addr + "/api/logs/stream?backfill=0"
	d := websocket.Dialer{HandshakeTimeout: testkit.Wait}
	for _, host := range []string{"rebind.attacker.test:" + port, "localhost.attacker.test:" + port} {
		if _, resp, err := d.Dial(stream, http.Header{"Host": {host}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("stream for Host %s: %v, want 403", host, err)
		}
		req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("page for Host %s: %d, want 403", host, resp.StatusCode)
		}
	}
	for _, host := range []string{addr, "localhost:" + port} {
		ws, _, err := d.Dial(stream, http.Header{"Host": {host}})
		if err != nil {
			t.Errorf("stream for Host %s: %v", host, err)
			continue
		}
		ws.Close()
	}
	c.Cmd.Process.Signal(syscall.SIGTERM)
	c.WaitExit(t, "SIGTERM")
}
