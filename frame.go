package sockets

import (
	"errors"
	"fmt"

	"github.com/gorilla/websocket"
)

// A Frame is a message prepared once for any number of connections and
// rooms. Publish prepares each message it is given for the members of one
// room; an app that sends the same message to several rooms (say, a line
// that several filters pass, a room per filter) prepares it once with
// NewFrame and hands the Frame to PublishFrame for each room and to
// Conn.SendFrame for single connections: every queue then holds the same
// frame, one buffer in memory, however many rooms and members it reaches.
// A Frame is immutable and safe for concurrent use.
type Frame struct {
	typ  int
	data []byte
	pm   *websocket.PreparedMessage
}

// NewFrame checks and prepares a message for PublishFrame and SendFrame.
// messageType is TextMessage (data must then be valid UTF-8) or
// BinaryMessage; anything else is refused with an error. The frame is
// encoded for the wire at once (a copy of data with its header); data is
// kept too, for a Broker or a HistoryStore: do not modify it after the
// call.
func NewFrame(messageType int, data []byte) (*Frame, error) {
	if err := checkFrame(messageType, data); err != nil {
		return nil, err
	}
	pm, err := websocket.NewPreparedMessage(messageType, data)
	if err != nil {
		return nil, fmt.Errorf("sockets: preparing a frame: %w", err)
	}
	return &Frame{typ: messageType, data: data, pm: pm}, nil
}

// Type returns the frame's message type: TextMessage or BinaryMessage.
func (f *Frame) Type() int { return f.typ }

// Len returns the length of the frame's payload, the size a connection's
// queue counts it for (Options.HubQueueBytes).
func (f *Frame) Len() int { return len(f.data) }

var errNilFrame = errors.New("sockets: a nil *Frame")

// PublishFrame is Publish for a frame prepared with NewFrame: every member
// of room on this instance gets f itself, not a copy. Through a Broker the
// other instances get its payload, as Publish sends it. With a
// HubOptions.History store, members get the frame the store's record makes
// (HistoryFrame), as for Publish, and f is not shared.
func (h *Hub) PublishFrame(room string, f *Frame) error {
	if f == nil {
		h.refused.Add(1)
		return errNilFrame
	}
	return h.publish(Envelope{Room: room, Type: f.typ, Data: f.data}, f.pm, 0, false)
}

// SendFrame is Send for a frame prepared with NewFrame: the connection's
// queue holds f itself, not a copy.
func (c *Conn) SendFrame(f *Frame) error {
	if f == nil {
		return errNilFrame
	}
	return c.sendPrepared(f.pm, len(f.data))
}
