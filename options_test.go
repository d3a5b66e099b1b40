package sockets

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestOptionDefaults(t *testing.T) {
	caller := &Options{MaxMessageSize: 10}
	o, err := prepareOptions([]*Options{caller})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want interface{}
	}{
		{"WriteWait", o.WriteWait, 60 * time.Second},
		{"PongWait", o.PongWait, 60 * time.Second},
		{"PingPeriod", o.PingPeriod, 48 * time.Second},
		{"MaxMessageSize (set)", o.MaxMessageSize, int64(10)},
		{"SendChannelBuffer", o.SendChannelBuffer, 10},
		{"RecvChannelBuffer", o.RecvChannelBuffer, 10},
		{"AllowedOrigin", o.AllowedOrigin, "https?://{{host}}$"},
		{"LogLevel", o.LogLevel, LogLevelError},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if caller.WriteWait != 0 || caller.Logger != nil {
		t.Error("prepareOptions modified the caller's Options")
	}
	if d, _ := prepareOptions(nil); d.MaxMessageSize != 65536 {
		t.Errorf("default MaxMessageSize: got %d, want 65536", d.MaxMessageSize)
	}
	if u, _ := prepareOptions([]*Options{{SendChannelBuffer: -1}}); u.SendChannelBuffer != 0 {
		t.Errorf("negative SendChannelBuffer: got %d, want 0 (unbuffered)", u.SendChannelBuffer)
	}
	if p, _ := prepareOptions([]*Options{{PongWait: 10 * time.Second}}); p.PingPeriod != 8*time.Second {
		t.Errorf("PingPeriod with PongWait 10s: got %v, want 8s", p.PingPeriod)
	}
}

func TestPingPeriodNotShorterThanPongWaitPanics(t *testing.T) {
	for _, period := range []time.Duration{time.Second, 2 * time.Second} {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(error).Error(), "PingPeriod") {
					t.Errorf("PingPeriod %v, PongWait 1s: got panic %v, want one naming PingPeriod", period, r)
				}
			}()
			Messages(&Options{PingPeriod: period, PongWait: time.Second})
		}()
	}
}

func TestSubprotocolsFollowTheServersPreference(t *testing.T) {
	opts := quiet()
	opts.Subprotocols = []string{"chat.v2", "chat.v1"}
	ts := newTestServer(t, Messages(opts), func(c *Conn, sender chan<- string, done <-chan bool) {
		sender <- c.Subprotocol()
		<-done
	})
	d := websocket.Dialer{HandshakeTimeout: waitTimeout, Subprotocols: []string{"chat.v1", "chat.v2"}}
	ws, _, err := d.Dial(ts.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, got := readText(t, ws); got != "chat.v2" || ws.Subprotocol() != "chat.v2" {
		t.Errorf("subprotocol: server saw %q, client %q; want chat.v2", got, ws.Subprotocol())
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestSmallReadBufferReadsLargeMessages(t *testing.T) {
	opts := quiet()
	opts.ReadBufferSize = 256
	ts := newTestServer(t, Messages(opts), echoStrings)
	ws := ts.dial(t, nil)
	big := strings.Repeat("0123456789", 3000)
	ws.WriteMessage(websocket.TextMessage, []byte(big))
	if _, got := readText(t, ws); got != big {
		t.Errorf("echo through a 256-byte read buffer: got %d bytes, want %d", len(got), len(big))
	}
	ws.Close()
	ts.waitFinished(t, 1)
}

func TestHandshakeTimeoutReachesTheUpgrader(t *testing.T) {
	opts, err := prepareOptions([]*Options{{HandshakeTimeout: 3 * time.Second, EnableCompression: true}})
	if err != nil {
		t.Fatal(err)
	}
	u := newUpgrader(opts)
	if u.HandshakeTimeout != 3*time.Second || !u.EnableCompression {
		t.Errorf("upgrader: got timeout %v, compression %v", u.HandshakeTimeout, u.EnableCompression)
	}
}
