package sockets

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gorilla/websocket"
)

// Faults in what a client sent. The errors channel reports each inside a
// *CloseError (errors.Is finds it there).
var (
	// ErrMessageTooBig: a message exceeded MaxMessageSize; the connection
	// was closed with 1009.
	ErrMessageTooBig = errors.New("sockets: message exceeds MaxMessageSize")
	// ErrInvalidUTF8: a text message was not valid UTF-8; the connection was
	// closed with 1007.
	ErrInvalidUTF8 = errors.New("sockets: text message is not valid UTF-8")
	// ErrProtocol: the client broke RFC 6455 (a reserved bit or opcode, an
	// unmasked frame, a bad control frame, fragments out of order, a close
	// code it may not send); the connection was closed with 1002.
	ErrProtocol = errors.New("sockets: protocol error")
	// ErrRateLimited: a message came over Options.MessageRate. With
	// DropOverRate it was dropped (reported alone on errs); with
	// CloseOverRate the connection was closed with 1008.
	ErrRateLimited = errors.New("sockets: message over the rate limit")
)

// Errors from Conn.Send.
var (
	// ErrQueueFull: the connection's queue (Options.HubQueueSize) is full;
	// the message was dropped.
	ErrQueueFull = errors.New("sockets: the connection's queue is full")
	// ErrClosed: the connection is closing or closed.
	ErrClosed = errors.New("sockets: the connection is closed")
)

// CloseError says how a connection ended. Conn.CloseError returns it once
// the network connection is closed; the errors channel reports it when the
// end was a fault (Err is then set).
type CloseError struct {
	// Code is the close code of the closing handshake: the client's, when
	// it began with a close frame, or the server's; 1006 (abnormal
	// closure) when no close frame was sent.
	Code int
	// Reason is the text of that close frame.
	Reason string
	// ByClient is true when the client began: it sent a close frame, or its
	// connection went away. It is false when the server did: the handler
	// (its return, disconnect, Conn.Close), a Hub, Shutdown, or a fault
	// found in the client's input, its silence or a failed write.
	ByClient bool
	// Err is the fault: ErrMessageTooBig, ErrInvalidUTF8, ErrProtocol, a
	// close code from the client other than 1000, 1001 or none, silence
	// past PongWait, a write that timed out or failed, a lost connection.
	// It is nil for a normal close.
	Err error
}

// Error describes the end.
func (e *CloseError) Error() string {
	side := "server"
	if e.ByClient {
		side = "client"
	}
	code := "with " + strconv.Itoa(e.Code)
	if e.Code == websocket.CloseAbnormalClosure {
		code = "without a close frame"
	}
	if e.Err != nil {
		return fmt.Sprintf("%v (closed by the %s %s)", e.Err, side, code)
	}
	if e.Reason != "" {
		return fmt.Sprintf("sockets: closed by the %s %s %q", side, code, e.Reason)
	}
	return fmt.Sprintf("sockets: closed by the %s %s", side, code)
}

// Unwrap returns the fault, if any.
func (e *CloseError) Unwrap() error { return e.Err }

// panicError is a panic recovered in code of the bound type.
type panicError struct {
	value interface{}
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// DecodeError reports a message from the client that is not valid JSON for
// the bound type. The message was dropped; the connection stays open.
type DecodeError struct {
	Type    string // the bound type
	Payload string // the start of the offending message
	Err     error  // from encoding/json
}

// Error describes the failure, with the payload quoted. Both the payload
// and encoding/json's error, which may quote a part of the message as
// long as the message, are cut to a few hundred bytes.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("sockets: message is not valid JSON for %s: %s (payload %q)", e.Type, clipText(e.Err.Error()), e.Payload)
}

// Unwrap returns the encoding/json error.
func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError reports a value the handler sent that could not be encoded.
// It was skipped; the connection stays open.
type EncodeError struct {
	Type string // the bound type
	Err  error  // from encoding/json
}

// Error describes the failure.
func (e *EncodeError) Error() string {
	return fmt.Sprintf("sockets: cannot encode %s as JSON: %v", e.Type, e.Err)
}

// Unwrap returns the encoding/json error.
func (e *EncodeError) Unwrap() error { return e.Err }

// maxPayloadShown bounds the payload quoted in errors and debug logs.
const maxPayloadShown = 128

// truncate returns the start of a payload, marked when cut.
func truncate(data []byte) string {
	if len(data) <= maxPayloadShown {
		return string(data)
	}
	return string(data[:maxPayloadShown]) + "…"
}

// loggedError is err's text for a log line: without the payload of a
// DecodeError (payloads are logged at Debug only), and cut to
// maxLoggedError bytes with its length, since an error may quote what the
// client sent (encoding/json quotes a number as long as the message).
func loggedError(err error) string {
	if de, ok := err.(*DecodeError); ok {
		return "sockets: message is not valid JSON for " + de.Type + ": " + clipText(de.Err.Error())
	}
	return clipText(err.Error())
}

// refusal is why a request was not upgraded.
type refusal string

// Error returns the reason.
func (r refusal) Error() string { return string(r) }

const (
	errMethod refusal = "websocket upgrade needs a GET request"
	errOrigin refusal = "origin not allowed"
)

const (
	errShutdown refusal = "server is shutting down"
	errCapacity refusal = "too many connections"
	errHost     refusal = "host not allowed"
)

var errHijacked = errors.New("sockets: response written after the connection was upgraded")
