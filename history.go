package sockets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Position is where a message stands in its room's history.
//
// Offsets increase within a room's history; the epoch names the history
// they belong to and changes when it is reset (a new store, or one that
// lost its data), so that a client's position from before the reset is not
// mistaken for one in the new history.
type Position struct {
	Epoch  string
	Offset uint64
}

// IsZero reports whether p is the zero Position: no message seen yet.
func (p Position) IsZero() bool { return p == Position{} }

// String formats p as "EPOCH:OFFSET", the form ParsePosition reads.
func (p Position) String() string {
	return p.Epoch + ":" + strconv.FormatUint(p.Offset, 10)
}

// ParsePosition reads a Position formatted by String, as a client sends it
// back when it reconnects. The empty string is the zero Position.
func ParsePosition(s string) (Position, error) {
	if s == "" {
		return Position{}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i > maxEpochLen {
		return Position{}, fmt.Errorf("sockets: position %q is not EPOCH:OFFSET", truncateString(s))
	}
	off, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("sockets: position %q: offset: %w", truncateString(s), err)
	}
	return Position{Epoch: s[:i], Offset: off}, nil
}

// maxEpochLen bounds an epoch read from a client.
const maxEpochLen = 64

// A Record is a message kept in a room's history.
type Record struct {
	Room string
	Pos  Position
	Type int       // TextMessage or BinaryMessage
	Data []byte    // the payload, as published
	Time time.Time // when the store accepted it
	// ID is the publisher's identifier of the message, unique within the
	// store's de-duplication window: an Append retried with the same ID
	// is stored once.
	ID string
	// Missed is set by Follow on the first record it delivers after
	// records of the room it will never deliver: the store dropped them
	// (its Size or MaxAge) before the follower got to them, as when a
	// follower falls further behind than the room keeps. Whoever relays
	// the records has not relayed those: its clients must read from their
	// last position again (Read), to get exactly what they missed or
	// ErrCannotRecover. Read never sets it.
	Missed bool
}

// HistoryStore keeps the messages published to rooms, in one order shared
// by every server instance that uses the store. The Hub uses one when
// HubOptions.History is set; NewMemoryHistory makes one for a single
// process, and package natsjs one on NATS JetStream.
//
// Implementations are safe for concurrent use.
type HistoryStore interface {
	// Append stores a message in room and returns its position, once the
	// store has accepted it (for a remote store, a round trip, or more
	// when instances contend: see the store's documentation). A
	// message whose id the store has seen within its de-duplication
	// window is not stored again; its first position is returned.
	Append(ctx context.Context, room string, messageType int, data []byte, id string) (Position, error)
	// Read returns the records of room kept after since, oldest first, at
	// most limit of them (the newest ones; 0: every one kept). The zero
	// Position reads from the oldest record kept. It returns an error
	// wrapping ErrCannotRecover when records after since may have been
	// dropped (since is older than what is kept, or is from another
	// epoch): the reader cannot continue from since without a gap.
	Read(ctx context.Context, room string, since Position, limit int) ([]Record, error)
	// Follow calls deliver with each record appended to room from the
	// moment Follow returns, by any instance, in the order of their
	// positions, one at a time, until stop is called. A record appended
	// while Follow is being set up may be delivered or not: the Hub reads
	// what it may have missed with Read. After that, no record is skipped
	// silently: when records of the room were dropped before deliver was
	// called with them, the next record delivered has Missed set. A store
	// may set it where none were dropped, when it cannot tell (natsjs says
	// when): the cost is a reconnection, never a loss. A store whose
	// followers never fall behind what it keeps (NewMemoryHistory) never
	// sets it.
	Follow(room string, deliver func(Record)) (stop func(), err error)
	// Close releases the store. Rooms being followed are no longer.
	Close() error
}

// HistoryOptions configures a history store. A nil *HistoryOptions, or a
// zero field, means the default.
type HistoryOptions struct {
	// Size is how many records a room keeps, the newest. Default: 100.
	Size int
	// MaxAge drops records older than this. Default: 0, no age limit.
	MaxAge time.Duration
	// MaxMessageSize is the largest payload Append takes, in bytes.
	// Default: 65536.
	MaxMessageSize int
}

// Defaults of HistoryOptions.
const (
	defaultHistorySize    = 100
	defaultHistoryMaxSize = 65536
)

// WithDefaults returns a copy of o (nil: the zero value) with its zero
// fields set to their defaults, for the stores' constructors.
func (o *HistoryOptions) WithDefaults() HistoryOptions {
	var c HistoryOptions
	if o != nil {
		c = *o
	}
	if c.Size <= 0 {
		c.Size = defaultHistorySize
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = defaultHistoryMaxSize
	}
	if c.MaxAge < 0 {
		c.MaxAge = 0
	}
	return c
}

// CheckMessage reports why a message cannot be stored or sent, or nil:
// a type other than TextMessage or BinaryMessage, text that is not UTF-8,
// a payload over max bytes (0: no limit).
func CheckMessage(messageType int, data []byte, max int) error {
	if err := checkFrame(messageType, data); err != nil {
		return err
	}
	if max > 0 && len(data) > max {
		return fmt.Errorf("sockets: a message of %d bytes is over the %d allowed", len(data), max)
	}
	return nil
}

// Errors of history and presence stores.
var (
	// ErrCannotRecover: the history cannot be continued from the position
	// given without a gap (too old, or another epoch). The client should
	// start over from what the history keeps.
	ErrCannotRecover = errors.New("sockets: cannot recover from this position")
	// ErrKeyTaken: another member holds this key in the room.
	ErrKeyTaken = errors.New("sockets: the key is taken in this room")
	// ErrStoreClosed: the store was closed.
	ErrStoreClosed = errors.New("sockets: the store is closed")
)

// Limits on names given to stores: room names and member keys must be
// valid UTF-8, non-empty, at most this long, and contain no control
// characters.
const (
	MaxRoomLen = 256
	MaxKeyLen  = 256
	// MaxInfoLen bounds a member's info value.
	MaxInfoLen = 1024
)

// CheckName reports why name cannot be a room name or member key (what
// says which), or nil.
func CheckName(what, name string, max int) error {
	switch {
	case name == "":
		return fmt.Errorf("sockets: %s is empty", what)
	case len(name) > max:
		return fmt.Errorf("sockets: %s is %d bytes long, over %d", what, len(name), max)
	case !utf8.ValidString(name):
		return fmt.Errorf("sockets: %s %q is not valid UTF-8", what, truncateString(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("sockets: %s %q has a control character", what, truncateString(name))
		}
	}
	return nil
}

func truncateString(s string) string { return truncate([]byte(s)) }
