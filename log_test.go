package sockets

import (
	"log"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

const secret = "payload-secret-1234"

// logRun sends one invalid JSON message carrying secret and returns the log.
func logRun(t *testing.T, opts *Options) string {
	t.Helper()
	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = log.New(logs, "[sockets] ", 0)
	} else {
		opts.Logger.SetOutput(logs)
	}
	ts := newTestServer(t, JSON(message{}, opts), echo[*message])
	ws := ts.dial(t, nil)
	ws.WriteMessage(websocket.TextMessage, []byte(`{"seq":"`+secret+`"}`))
	ws.WriteJSON(message{Seq: 1})
	readText(t, ws)
	ws.Close()
	ts.waitFinished(t, 1)
	return logs.String()
}

func TestLogging(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		wantDropped bool // the decode failure is logged (Info)
		wantPayload bool // the payload is logged (Debug only)
	}{
		{"default is errors only", Options{}, false, false},
		{"info has no payloads", Options{LogLevel: LogLevelInfo}, true, false},
		{"debug has payloads", Options{LogLevel: LogLevelDebug}, true, true},
		{"skip logging", Options{LogLevel: LogLevelDebug, SkipLogging: true}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			got := logRun(t, &opts)
			if strings.Contains(got, "dropped a message") != tt.wantDropped {
				t.Errorf("decode failure logged: got %v, want %v; log:\n%s", !tt.wantDropped, tt.wantDropped, got)
			}
			if strings.Contains(got, secret) != tt.wantPayload {
				t.Errorf("payload logged: got %v, want %v; log:\n%s", !tt.wantPayload, tt.wantPayload, got)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if line != "" && !strings.HasPrefix(line, "[sockets] ") {
					t.Errorf("log line without prefix: %q", line)
				}
			}
		})
	}
}

func TestDefaultLoggerPrefix(t *testing.T) {
	opts, err := prepareOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := opts.Logger.Prefix(); p != "[sockets] " {
		t.Errorf("default logger prefix: got %q, want %q", p, "[sockets] ")
	}
}
