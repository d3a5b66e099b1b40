package natsjs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/itest/natstest"
	"github.com/macaron-contrib/sockets/natsjs"
)

func jsOf(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(dial(t, url))
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return js
}

// TestHistoryWireLayout: the stream, its subjects and headers are what the
// package documentation says (with ExactGaps, which adds HeaderPrev).
func TestHistoryWireLayout(t *testing.T) {
	s := startJS(t)
	h := newHistory(t, dial(t, s.ClientURL()), &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 7, MaxAge: time.Hour}, ExactGaps: true})
	js := jsOf(t, s.ClientURL())
	stream, err := js.Stream(ctxT(t), natsjs.DefaultStream)
	if err != nil {
		t.Fatalf("the default stream: %v", err)
	}
	c := stream.CachedInfo().Config
	if !slices.Contains(c.Subjects, natsjs.DefaultSubjectPrefix+".>") || c.MaxMsgsPerSubject != 7 || c.MaxAge != time.Hour ||
		c.Storage != jetstream.FileStorage || c.Duplicates != natsjs.DefaultDuplicates || c.Discard != jetstream.DiscardOld {
		t.Fatalf("stream config: %+v", c)
	}
	if want := strconv.FormatInt(stream.CachedInfo().Created.UnixNano(), 36); h.Epoch() != want {
		t.Fatalf("epoch %q, want the stream's creation time %q", h.Epoch(), want)
	}

	room, id := "a.b *>\u00e9", "id with spaces\r\nand a line break \xff"
	data := []byte("hello\x00")
	pos, err := h.Append(ctxT(t), room, sockets.BinaryMessage, data, id)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	tok := base64.RawURLEncoding.EncodeToString([]byte(room))
	m, err := stream.GetMsg(ctxT(t), pos.Offset)
	if err != nil {
		t.Fatalf("GetMsg(%d): %v", pos.Offset, err)
	}
	sum := sha256.Sum256([]byte(room + "\x00" + id))
	switch {
	case m.Subject != natsjs.DefaultSubjectPrefix+"."+tok:
		t.Errorf("subject %q, want %q", m.Subject, natsjs.DefaultSubjectPrefix+"."+tok)
	case !bytes.Equal(m.Data, data):
		t.Errorf("payload %q, want %q", m.Data, data)
	case m.Header.Get(natsjs.HeaderType) != "2":
		t.Errorf("%s: %q", natsjs.HeaderType, m.Header.Get(natsjs.HeaderType))
	case m.Header.Get(natsjs.HeaderID) != base64.RawURLEncoding.EncodeToString([]byte(id)):
		t.Errorf("%s: %q", natsjs.HeaderID, m.Header.Get(natsjs.HeaderID))
	case m.Header.Get(jetstream.MsgIDHeader) != base64.RawURLEncoding.EncodeToString(sum[:]):
		t.Errorf("%s: %q", jetstream.MsgIDHeader, m.Header.Get(jetstream.MsgIDHeader))
	case m.Header.Get(natsjs.HeaderPrev) != "0":
		t.Errorf("%s of a room's first message: %q, want 0", natsjs.HeaderPrev, m.Header.Get(natsjs.HeaderPrev))
	}
	recs, err := h.Read(ctxT(t), room, sockets.Position{}, 0)
	if err != nil || len(recs) != 1 || recs[0].ID != id || !recs[0].Time.Equal(m.Time) {
		t.Fatalf("Read: %v, %+v (message time %v)", err, recs, m.Time)
	}

	// The same id in another room is another message.
	other, err := h.Append(ctxT(t), "other", sockets.BinaryMessage, data, id)
	if err != nil || other == pos {
		t.Fatalf("the same id in another room: %v, %v (first %v)", other, err, pos)
	}
	// An empty id is never de-duplicated.
	p1, err1 := h.Append(ctxT(t), room, sockets.TextMessage, []byte("x"), "")
	p2, err2 := h.Append(ctxT(t), room, sockets.TextMessage, []byte("x"), "")
	if err1 != nil || err2 != nil || p1 == p2 {
		t.Fatalf("two appends without id: %v %v, %v %v", p1, err1, p2, err2)
	}
	// Each message names the room's one before it, another room's between.
	if m2, err := stream.GetMsg(ctxT(t), p2.Offset); err != nil || m2.Header.Get(natsjs.HeaderPrev) != strconv.FormatUint(p1.Offset, 10) {
		t.Errorf("%s after %v: %v, %v", natsjs.HeaderPrev, p1, m2, err)
	}
	if m1, err := stream.GetMsg(ctxT(t), p1.Offset); err != nil || m1.Header.Get(natsjs.HeaderPrev) != strconv.FormatUint(pos.Offset, 10) {
		t.Errorf("%s after %v, with another room's message between: %v, %v", natsjs.HeaderPrev, pos, m1, err)
	}
	if _, err := h.Append(ctxT(t), room, sockets.TextMessage, nil, strings.Repeat("i", natsjs.MaxIDLen+1)); err == nil {
		t.Fatal("an id over MaxIDLen: no error")
	}

	// A message published on a room's subject by someone else, without the
	// type header, is not a record.
	if _, err := js.Publish(ctxT(t), natsjs.DefaultSubjectPrefix+"."+tok, []byte("stranger")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	recs, err = h.Read(ctxT(t), room, sockets.Position{}, 0)
	if err != nil || len(recs) != 3 {
		t.Fatalf("Read after a stranger's message: %v, %d records, want 3", err, len(recs))
	}
}

// TestHistoryRecoveryRule: the exact rule of the package documentation,
// at its edges.
func TestHistoryRecoveryRule(t *testing.T) {
	s := startJS(t)
	h := newHistory(t, dial(t, s.ClientURL()), &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 3}})
	var pos []sockets.Position
	for i := range 6 {
		p, err := h.Append(ctxT(t), "r", sockets.TextMessage, []byte{'0' + byte(i)}, strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, p)
		// Another room's messages between: offsets are not contiguous.
		if _, err := h.Append(ctxT(t), "noise", sockets.TextMessage, []byte("n"), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(since sockets.Position) ([]sockets.Record, error) { return h.Read(ctxT(t), "r", since, 0) }
	// Kept: 3, 4, 5. From 3 (the oldest kept): 4, 5.
	if recs, err := read(pos[3]); err != nil || len(recs) != 2 || recs[0].Pos != pos[4] {
		t.Fatalf("from the oldest kept: %v, %+v", err, recs)
	}
	// From 2, just dropped: nothing after it was lost, but the store
	// cannot know that. Refused.
	if _, err := read(pos[2]); !errors.Is(err, sockets.ErrCannotRecover) {
		t.Fatalf("from the record just dropped: %v, want ErrCannotRecover", err)
	}
	// A position between 2 and 3 (another room's message): refused too.
	if _, err := read(sockets.Position{Epoch: pos[3].Epoch, Offset: pos[3].Offset - 1}); !errors.Is(err, sockets.ErrCannotRecover) {
		t.Fatalf("from just before the oldest kept: %v, want ErrCannotRecover", err)
	}
	// Past the end of the stream: refused.
	if _, err := read(sockets.Position{Epoch: pos[5].Epoch, Offset: pos[5].Offset + 100}); !errors.Is(err, sockets.ErrCannotRecover) {
		t.Fatalf("from past the stream's end: %v, want ErrCannotRecover", err)
	}
	// The newest record of a room and of the stream: nothing new, no error.
	last, err := h.Append(ctxT(t), "r", sockets.TextMessage, []byte("last"), "last")
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := read(last); err != nil || len(recs) != 0 {
		t.Fatalf("from the newest: %v, %+v", err, recs)
	}
}

// TestHistoryRecoveryEmptyRoom: a room that keeps nothing (MaxAge) is
// recoverable only when nothing was stored after the position at all.
func TestHistoryRecoveryEmptyRoom(t *testing.T) {
	s := startJS(t)
	h := newHistory(t, dial(t, s.ClientURL()), &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{MaxAge: 300 * time.Millisecond}})
	p, err := h.Append(ctxT(t), "r", sockets.TextMessage, []byte("x"), "x")
	if err != nil {
		t.Fatal(err)
	}
	waitEmpty := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			recs, err := h.Read(ctxT(t), "r", sockets.Position{}, 0)
			if err == nil && len(recs) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("room r not empty after 10s: %v, %d records", err, len(recs))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitEmpty()
	if recs, err := h.Read(ctxT(t), "r", p, 0); err != nil || len(recs) != 0 {
		t.Fatalf("nothing stored since: %v, %+v", err, recs)
	}
	if _, err := h.Append(ctxT(t), "elsewhere", sockets.TextMessage, []byte("y"), "y"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Read(ctxT(t), "r", p, 0); !errors.Is(err, sockets.ErrCannotRecover) {
		t.Fatalf("something stored since, the room empty: %v, want ErrCannotRecover", err)
	}
}

// TestHistoryEpochNewStream: a stream deleted and made again is a new
// epoch, and positions from the old one are refused.
func TestHistoryEpochNewStream(t *testing.T) {
	s := startJS(t)
	js := jsOf(t, s.ClientURL())
	h1 := newHistory(t, dial(t, s.ClientURL()), nil)
	p, err := h1.Append(ctxT(t), "r", sockets.TextMessage, []byte("x"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctxT(t), natsjs.DefaultStream); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // a creation time of its own
	h2 := newHistory(t, dial(t, s.ClientURL()), nil)
	if h2.Epoch() == p.Epoch {
		t.Fatalf("the new stream has the old epoch %q", p.Epoch)
	}
	q, err := h2.Append(ctxT(t), "r", sockets.TextMessage, []byte("y"), "y")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*natsjs.History{h1, h2} {
		if _, err := h.Read(ctxT(t), "r", p, 0); !errors.Is(err, sockets.ErrCannotRecover) {
			t.Fatalf("a position of the old stream: %v, want ErrCannotRecover", err)
		}
		recs, err := h.Read(ctxT(t), "r", sockets.Position{}, 0)
		if err != nil || len(recs) != 1 || recs[0].Pos != q {
			t.Fatalf("Read of the new stream: %v, %+v, want one record at %v", err, recs, q)
		}
	}
	if h1.Epoch() != h2.Epoch() {
		t.Fatalf("after a Read, the old handle's epoch is %q, the stream's %q", h1.Epoch(), h2.Epoch())
	}
}

// TestHistoryIncompatibleStream: a stream that exists with other settings
// is refused with the setting named, and left as it was.
func TestHistoryIncompatibleStream(t *testing.T) {
	s := startJS(t)
	js := jsOf(t, s.ClientURL())
	base := func(name string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: name, Subjects: []string{"inc." + name + ".>"}, MaxMsgsPerSubject: 100,
			Storage: jetstream.FileStorage, Duplicates: natsjs.DefaultDuplicates,
		}
	}
	cases := []struct {
		setting string
		change  func(*jetstream.StreamConfig)
	}{
		{"MaxMsgsPerSubject", func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 50 }},
		{"MaxAge", func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour }},
		{"Storage", func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }},
		{"Subjects", func(c *jetstream.StreamConfig) { c.Subjects = []string{"elsewhere.>"} }},
		{"Retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy }},
		{"Duplicates", func(c *jetstream.StreamConfig) { c.Duplicates = time.Minute }},
		{"MaxMsgSize", func(c *jetstream.StreamConfig) { c.MaxMsgSize = 1000 }},
		{"Discard", func(c *jetstream.StreamConfig) { c.Discard = jetstream.DiscardNew }},
		{"NoAck", func(c *jetstream.StreamConfig) { c.NoAck = true }},
		{"Sealed", func(c *jetstream.StreamConfig) { c.Sealed = true }},
		{"AllowMsgTTL", func(c *jetstream.StreamConfig) { c.AllowMsgTTL = true }},
		{"SubjectDeleteMarkerTTL", func(c *jetstream.StreamConfig) { c.AllowMsgTTL, c.SubjectDeleteMarkerTTL = true, time.Second }},
	}
	for _, c := range cases {
		t.Run(c.setting, func(t *testing.T) {
			name := uniqueName("INC")
			cfg := base(name)
			c.change(&cfg)
			sealed := cfg.Sealed
			cfg.Sealed = false // a stream is sealed by an update, not made so
			if _, err := js.CreateStream(ctxT(t), cfg); err != nil {
				t.Fatalf("CreateStream: %v", err)
			}
			if sealed {
				cfg.Sealed = true
				if _, err := js.UpdateStream(ctxT(t), cfg); err != nil {
					t.Fatalf("UpdateStream (sealed): %v", err)
				}
			}
			before, _ := js.Stream(ctxT(t), name)
			_, err := natsjs.NewHistory(ctxT(t), dial(t, s.ClientURL()), &natsjs.HistoryOptions{Stream: name, SubjectPrefix: "inc." + name})
			if !errors.Is(err, natsjs.ErrIncompatible) || !strings.Contains(err.Error(), c.setting) {
				t.Fatalf("NewHistory: %v, want ErrIncompatible naming %s", err, c.setting)
			}
			t.Logf("%v", err)
			after, _ := js.Stream(ctxT(t), name)
			if before.CachedInfo().Config.MaxMsgsPerSubject != after.CachedInfo().Config.MaxMsgsPerSubject ||
				before.CachedInfo().Config.MaxAge != after.CachedInfo().Config.MaxAge ||
				!before.CachedInfo().Created.Equal(after.CachedInfo().Created) {
				t.Fatalf("the stream was changed: %+v, was %+v", after.CachedInfo().Config, before.CachedInfo().Config)
			}
		})
	}
	// The same settings: accepted.
	name := uniqueName("INC")
	if _, err := js.CreateStream(ctxT(t), base(name)); err != nil {
		t.Fatal(err)
	}
	newHistory(t, dial(t, s.ClientURL()), &natsjs.HistoryOptions{Stream: name, SubjectPrefix: "inc." + name})
	// Two instances with different Sizes: the second is refused.
	_, err := natsjs.NewHistory(ctxT(t), dial(t, s.ClientURL()), &natsjs.HistoryOptions{
		Stream: name, SubjectPrefix: "inc." + name, HistoryOptions: sockets.HistoryOptions{Size: 99},
	})
	if !errors.Is(err, natsjs.ErrIncompatible) {
		t.Fatalf("another Size: %v, want ErrIncompatible", err)
	}
}

// TestNoJetStream: a server without JetStream is refused, clearly.
func TestNoJetStream(t *testing.T) {
	s := natstest.Start(t, -1)
	nc := dial(t, s.ClientURL())
	if _, err := natsjs.NewHistory(ctxT(t), nc, nil); !errors.Is(err, natsjs.ErrNoJetStream) {
		t.Fatalf("NewHistory: %v, want ErrNoJetStream", err)
	}
	_, err := natsjs.NewPresence(ctxT(t), nc, nil)
	if !errors.Is(err, natsjs.ErrNoJetStream) {
		t.Fatalf("NewPresence: %v, want ErrNoJetStream", err)
	}
	t.Log(err)
}

// TestBadOptions: names and durations JetStream would refuse are refused
// first, with what is wrong.
func TestBadOptions(t *testing.T) {
	s := startJS(t)
	nc := dial(t, s.ClientURL())
	for _, o := range []natsjs.HistoryOptions{
		{Stream: "a.b"}, {Stream: "a b"}, {SubjectPrefix: "a.*"}, {SubjectPrefix: "a..b"}, {SubjectPrefix: "a.>"},
		{HistoryOptions: sockets.HistoryOptions{MaxAge: time.Millisecond}},
	} {
		if _, err := natsjs.NewHistory(ctxT(t), nc, &o); err == nil {
			t.Errorf("NewHistory(%+v): no error", o)
		}
	}
	for _, o := range []natsjs.PresenceOptions{{Bucket: "a.b"}, {PresenceOptions: sockets.PresenceOptions{Lease: time.Millisecond}}} {
		if _, err := natsjs.NewPresence(ctxT(t), nc, &o); err == nil {
			t.Errorf("NewPresence(%+v): no error", o)
		}
	}
	if _, err := natsjs.NewHistory(ctxT(t), nil, nil); err == nil {
		t.Error("NewHistory(nil conn): no error")
	}
	closed := dial(t, s.ClientURL())
	closed.Close()
	if _, err := natsjs.NewPresence(ctxT(t), closed, nil); err == nil {
		t.Error("NewPresence(closed conn): no error")
	}
}

// A publish to a room with history costs its publisher one round trip: one
// message to the server (the publish) and one back (its acknowledgement),
// nothing else, once the store is set up.
func TestAppendIsOneRoundTrip(t *testing.T) {
	srv := startJS(t)
	nc := dial(t, srv.ClientURL())
	h := newHistory(t, nc, &natsjs.HistoryOptions{Stream: uniqueName("RTT"), SubjectPrefix: uniqueName("rtt")})
	ctx := ctxT(t)
	if _, err := h.Append(ctx, "r", sockets.TextMessage, []byte("warm-up"), ""); err != nil {
		t.Fatal(err)
	}
	before := nc.Stats()
	const n = 20
	for i := 0; i < n; i++ {
		if _, err := h.Append(ctx, "r", sockets.TextMessage, []byte("m"), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	after := nc.Stats()
	if out, in := after.OutMsgs-before.OutMsgs, after.InMsgs-before.InMsgs; out != n || in != n {
		t.Errorf("%d appends sent %d messages and received %d, want %d each", n, out, in, n)
	}
}
