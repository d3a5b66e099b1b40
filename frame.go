package sockets

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gorilla/websocket"
)

// A Frame is a message checked once for any number of connections and
// rooms, and held once in memory. Publish prepares each message it is
// given for the members of one room; an app that sends the same message to
// several rooms (say, a line that several filters pass, a room per filter)
// makes it a Frame once with NewFrame and hands that to PublishFrame for
// each room and to Conn.SendFrame for single connections: every queue then
// holds the same Frame, whose payload is the only copy of the message the
// server keeps. Each connection's writer writes the frame's header and
// then the payload from there; where compression was negotiated, the
// payload is compressed once, on first use, for every such connection (the
// Frame then keeps that compressed form, and a prepared plain one, beside
// its payload). A Frame is immutable and safe for concurrent use.
type Frame struct {
	typ  int
	data []byte

	once  sync.Once
	pm    *websocket.PreparedMessage // for connections with compression
	pmErr error
}

// NewFrame checks a message for PublishFrame and SendFrame. messageType is
// TextMessage (data must then be valid UTF-8) or BinaryMessage; anything
// else is refused with an error. Nothing is copied: the frame keeps data,
// which must not be modified after the call.
func NewFrame(messageType int, data []byte) (*Frame, error) {
	if err := checkFrame(messageType, data); err != nil {
		return nil, err
	}
	return &Frame{typ: messageType, data: data}, nil
}

// Type returns the frame's message type: TextMessage or BinaryMessage.
func (f *Frame) Type() int { return f.typ }

// Len returns the length of the frame's payload, the size a connection's
// queue counts it for (Options.HubQueueBytes).
func (f *Frame) Len() int { return len(f.data) }

// prepared returns the frame as a prepared message, made on first use: for
// connections with compression, so that it is compressed once for all.
func (f *Frame) prepared() (*websocket.PreparedMessage, error) {
	f.once.Do(func() {
		f.pm, f.pmErr = websocket.NewPreparedMessage(f.typ, f.data)
		if f.pmErr != nil {
			f.pmErr = fmt.Errorf("sockets: preparing a frame: %w", f.pmErr)
		}
	})
	return f.pm, f.pmErr
}

var errNilFrame = errors.New("sockets: a nil *Frame")

// PublishFrame is Publish for a frame made with NewFrame: every member of
// room on this instance gets f itself, not a copy. Through a Broker the
// other instances get its payload, as Publish sends it. With a
// HubOptions.History store, members get the frame the store's record makes
// (HistoryFrame), as for Publish, and f is not shared.
func (h *Hub) PublishFrame(room string, f *Frame) error {
	if f == nil {
		h.refused.Add(1)
		return errNilFrame
	}
	return h.publish(Envelope{Room: room, Type: f.typ, Data: f.data}, f, 0, false)
}

// SendFrame is Send for a frame made with NewFrame: the connection's queue
// holds f itself, not a copy.
func (c *Conn) SendFrame(f *Frame) error {
	if f == nil {
		return errNilFrame
	}
	return c.sendQueued(queuedFrame{frame: f, size: len(f.data)})
}
