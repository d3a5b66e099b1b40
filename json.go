package sockets

import (
	"encoding/json"
	"reflect"
	"runtime/debug"
	"unsafe"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// JSON returns a handler that upgrades the request and binds the websocket
// to channels of *T, where T is the type of bindStruct (a value or a
// pointer). The next handler may ask for receiver <-chan *T and sender
// chan<- *T, beside done, disconnect, errors and conn as for Messages.
//
// Every message from the client is decoded into a new *T; one that is not
// valid JSON for T is dropped and reported on the errors channel as a
// *DecodeError, and the connection stays open. Every *T sent becomes one
// JSON text message; a value that cannot be encoded is reported as an
// *EncodeError and skipped.
func JSON(bindStruct interface{}, options ...*Options) macaron.Handler {
	t := reflect.TypeOf(bindStruct)
	if t == nil {
		panic("sockets: JSON needs a value of the message type, got nil")
	}
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	ptr := reflect.PointerTo(t)
	chanType := reflect.ChanOf(reflect.BothDir, ptr)
	recvType := reflect.ChanOf(reflect.RecvDir, ptr)
	sendType := reflect.ChanOf(reflect.SendDir, ptr)

	return newHandler(jsonCodec(t), func(recvBuf, sendBuf int) (chan unsafe.Pointer, chan unsafe.Pointer, []reflect.Value) {
		recv := reflect.MakeChan(chanType, recvBuf)
		send := reflect.MakeChan(chanType, sendBuf)
		return pointerChan(recv), pointerChan(send), []reflect.Value{recv.Convert(recvType), send.Convert(sendType)}
	}, options)
}

// pointerChan views a chan *T as a chan unsafe.Pointer, so that the one
// connection engine can move *T values without reflection per message.
// The view is exact: both element types are one pointer word, and the
// runtime copies channel elements by the channel's own element type (*T),
// so the garbage collector sees every value as the *T it is.
func pointerChan(ch reflect.Value) chan unsafe.Pointer {
	p := ch.UnsafePointer()
	return *(*chan unsafe.Pointer)(unsafe.Pointer(&p))
}

func jsonCodec(t reflect.Type) codec[unsafe.Pointer] {
	return codec[unsafe.Pointer]{
		decode: func(_ int, data []byte) (unsafe.Pointer, error) {
			v := reflect.New(t)
			if err := unmarshal(data, v.Interface()); err != nil {
				return nil, &DecodeError{Type: t.String(), Payload: truncate(data), Err: err}
			}
			return v.UnsafePointer(), nil
		},
		encode: func(dst []byte, p unsafe.Pointer) (int, []byte, error) {
			b, err := marshal(reflect.NewAt(t, p).Interface())
			if err != nil {
				return 0, dst, &EncodeError{Type: t.String(), Err: err}
			}
			return websocket.TextMessage, append(dst, b...), nil
		},
	}
}

// unmarshal is json.Unmarshal, with a panic in the type's own methods (an
// UnmarshalJSON that a client's message can make panic) turned into an
// error: it costs the message, not the process.
func unmarshal(data []byte, v interface{}) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return json.Unmarshal(data, v)
}

// marshal is json.Marshal, with a panic in a MarshalJSON method turned
// into an error.
func marshal(v interface{}) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return json.Marshal(v)
}
