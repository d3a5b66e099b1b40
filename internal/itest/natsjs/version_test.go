package natsjs_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/macaron-contrib/sockets/natsjs"
)

// oldServer is a stand-in for a NATS server of version: it greets a
// client with its INFO, as a real one does, and answers its PINGs; it
// answers nothing else (no JetStream), so a store that goes past the
// version check waits for an answer that never comes.
func oldServer(t *testing.T, version string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	port := ln.Addr().(*net.TCPAddr).Port
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				fmt.Fprintf(c, `INFO {"server_id":"OLD","server_name":"old","version":%q,"proto":1,"go":"go1.22","host":"127.0.0.1","port":%d,"headers":true,"max_payload":1048576}`+"\r\n", version, port)
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(line, "PING") {
						if _, err := c.Write([]byte("PONG\r\n")); err != nil {
							return
						}
					}
				}
			})
		}
	})
	return fmt.Sprintf("nats://127.0.0.1:%d", port)
}

// TestPresenceRefusesOldServer: NewPresence on a server older than
// MinServerVersion fails at once, saying which version it needs, before
// it asks the server anything.
func TestPresenceRefusesOldServer(t *testing.T) {
	for _, version := range []string{"2.10.24", "2.9.25"} {
		t.Run(version, func(t *testing.T) {
			nc := dial(t, oldServer(t, version))
			if got := nc.ConnectedServerVersion(); got != version {
				t.Fatalf("the client sees server version %q, want %q", got, version)
			}
			_, err := natsjs.NewPresence(ctxT(t), nc, nil)
			if !errors.Is(err, natsjs.ErrServerTooOld) || !strings.Contains(err.Error(), version) || !strings.Contains(err.Error(), natsjs.MinServerVersion) {
				t.Fatalf("NewPresence: %v, want ErrServerTooOld naming %s and %s", err, version, natsjs.MinServerVersion)
			}
			t.Log(err)
		})
	}
}
