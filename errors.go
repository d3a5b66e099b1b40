package sockets

import (
	"errors"
	"fmt"
)

// Errors reported on the errors channel.
var (
	// ErrMessageTooBig: a message exceeded MaxMessageSize; the connection
	// was closed with 1009.
	ErrMessageTooBig = errors.New("sockets: message exceeds MaxMessageSize")
	// ErrInvalidUTF8: a text message was not valid UTF-8; the connection was
	// closed with 1007.
	ErrInvalidUTF8 = errors.New("sockets: text message is not valid UTF-8")
)

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

// Error describes the failure, with the payload quoted.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("sockets: message is not valid JSON for %s: %v (payload %q)", e.Type, e.Err, e.Payload)
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

// errorWithoutPayload keeps payloads out of log lines above Debug.
func errorWithoutPayload(err error) error {
	if de, ok := err.(*DecodeError); ok {
		return fmt.Errorf("sockets: message is not valid JSON for %s: %v", de.Type, de.Err)
	}
	return err
}

// refusal is why a request was not upgraded.
type refusal string

// Error returns the reason.
func (r refusal) Error() string { return string(r) }

const (
	errMethod refusal = "websocket upgrade needs a GET request"
	errOrigin refusal = "origin not allowed"
)

const errShutdown refusal = "server is shutting down"

var errHijacked = errors.New("sockets: response written after the connection was upgraded")
