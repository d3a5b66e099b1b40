package sockets

import (
	"reflect"

	"github.com/gorilla/websocket"
	"gopkg.in/macaron.v1"
)

// Messages returns a handler that upgrades the request and binds the
// websocket to string channels. The next handler may ask for any of
//
//	receiver   <-chan string  each message from the client
//	sender     chan<- string  each string becomes one text message
//	done       <-chan bool    true once the connection is gone, then closed
//	disconnect chan<- int     send a close code to close the connection
//	errors     <-chan error   what went wrong (see the package doc)
//	conn       *sockets.Conn  the connection's handle
//
// Binary messages from the client are delivered as strings too.
func Messages(options ...*Options) macaron.Handler {
	return newHandler(stringCodec, func(recvBuf, sendBuf int) (chan string, chan string, []reflect.Value) {
		recv, send := make(chan string, recvBuf), make(chan string, sendBuf)
		return recv, send, []reflect.Value{
			reflect.ValueOf((<-chan string)(recv)),
			reflect.ValueOf((chan<- string)(send)),
		}
	}, options)
}

// ByteSliceMessages returns a handler that upgrades the request and binds
// the websocket to []byte channels: receiver <-chan []byte and sender
// chan<- []byte, beside done, disconnect, errors and conn as for Messages.
// Each []byte sent becomes one binary message; do not modify a slice after
// sending it. Each []byte received is the handler's own. Text messages from
// the client are delivered as []byte too.
func ByteSliceMessages(options ...*Options) macaron.Handler {
	return newHandler(bytesCodec, func(recvBuf, sendBuf int) (chan []byte, chan []byte, []reflect.Value) {
		recv, send := make(chan []byte, recvBuf), make(chan []byte, sendBuf)
		return recv, send, []reflect.Value{
			reflect.ValueOf((<-chan []byte)(recv)),
			reflect.ValueOf((chan<- []byte)(send)),
		}
	}, options)
}

var stringCodec = codec[string]{
	decode: func(_ int, data []byte) (string, error) {
		return string(data), nil
	},
	encode: func(dst []byte, v string) (int, []byte, error) {
		return websocket.TextMessage, append(dst, v...), nil
	},
}

var bytesCodec = codec[[]byte]{
	decode: func(_ int, data []byte) ([]byte, error) {
		return append(make([]byte, 0, len(data)), data...), nil
	},
	encode: func(dst []byte, v []byte) (int, []byte, error) {
		return websocket.BinaryMessage, append(dst, v...), nil
	},
}
