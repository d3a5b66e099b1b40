package sockets

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// queuedFrames takes what c's queue holds.
func queuedFrames(c *Conn) []queuedFrame { return c.queue.take(nil) }

// One frame published to several rooms and sent to one connection is the
// same Frame in every queue, its payload the caller's slice: one buffer,
// however many rooms and members it reaches.
func TestPublishFrameSharesOneFrame(t *testing.T) {
	h := newHub(t, nil)
	a1, a2, b1, alone := fakeConn(t, 8), fakeConn(t, 8), fakeConn(t, 8), fakeConn(t, 8)
	h.Join("a", a1)
	h.Join("a", a2)
	h.Join("b", b1)
	payload := []byte(`{"line":"x"}`)
	f, err := NewFrame(TextMessage, payload)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type() != TextMessage || f.Len() != 12 {
		t.Errorf("Type, Len = %d, %d; want %d, 12", f.Type(), f.Len(), TextMessage)
	}
	for _, room := range []string{"a", "b"} {
		if err := h.PublishFrame(room, f); err != nil {
			t.Fatalf("PublishFrame(%q): %v", room, err)
		}
	}
	if err := alone.SendFrame(f); err != nil {
		t.Fatalf("SendFrame: %v", err)
	}
	for i, c := range []*Conn{a1, a2, b1, alone} {
		q := queuedFrames(c)
		if len(q) != 1 || q[0].frame != f || q[0].pm != nil || q[0].size != len(payload) {
			t.Errorf("connection %d: queued %+v, want the frame %p itself", i, q, f)
		}
	}
	if &f.data[0] != &payload[0] {
		t.Error("the frame holds a copy of its payload")
	}
	if s := h.Stats(); s.MessagesIn != 2 || s.MessagesOut != 3 {
		t.Errorf("stats %+v, want 2 messages in, 3 out", s)
	}
}

// NewFrame refuses what Publish refuses; PublishFrame and SendFrame refuse
// a nil frame, and PublishFrame a room without a name.
func TestFrameRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  int
		data []byte
	}{
		{"invalid UTF-8", TextMessage, []byte{'a', 0xff}},
		{"a ping", websocket.PingMessage, nil},
		{"an unknown type", 42, []byte("x")},
	} {
		if f, err := NewFrame(tc.typ, tc.data); err == nil || f != nil {
			t.Errorf("%s: NewFrame = %v, %v; want an error", tc.name, f, err)
		}
	}
	if _, err := NewFrame(BinaryMessage, []byte{0xff}); err != nil {
		t.Errorf("binary, not UTF-8: %v", err)
	}
	h := newHub(t, nil)
	c := fakeConn(t, 8)
	h.Join("r", c)
	if err := h.PublishFrame("r", nil); err == nil {
		t.Error("PublishFrame(nil) accepted")
	}
	f, _ := NewFrame(TextMessage, []byte("hi"))
	if err := h.PublishFrame("", f); !errors.Is(err, errEmptyRoom) {
		t.Errorf("PublishFrame to no room: %v, want errEmptyRoom", err)
	}
	if err := c.SendFrame(nil); err == nil {
		t.Error("SendFrame(nil) accepted")
	}
	if n := len(queuedFrames(c)); n != 0 {
		t.Errorf("%d frames queued after refusals, want 0", n)
	}
	if s := h.Stats(); s.Refused != 2 || s.MessagesIn != 0 {
		t.Errorf("stats %+v, want 2 refused and nothing in", s)
	}
}

// A frame published through a broker reaches the other instances as its
// payload; with a history store, members get the store's frame.
func TestPublishFrameBrokerAndHistory(t *testing.T) {
	b := newRecordingBroker()
	h := newHub(t, &HubOptions{Broker: b})
	c := fakeConn(t, 8)
	h.Join("r", c)
	f, _ := NewFrame(TextMessage, []byte("hello"))
	if err := h.PublishFrame("r", f); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	got := append([]Envelope(nil), b.published...)
	b.mu.Unlock()
	if len(got) != 1 || got[0].Room != "r" || got[0].Type != TextMessage || string(got[0].Data) != "hello" {
		t.Errorf("the broker got %+v, want one text envelope for r with hello", got)
	}
	if q := queuedFrames(c); len(q) != 1 || q[0].frame != f {
		t.Errorf("the local member got %+v, want the frame itself", q)
	}

	store := NewMemoryHistory(&HistoryOptions{Size: 10})
	t.Cleanup(func() { store.Close() })
	hh := newHistoryHub(t, store)
	m := fakeConn(t, 8)
	if err := hh.Join("r", m); err != nil {
		t.Fatal(err)
	}
	g, _ := NewFrame(TextMessage, []byte(`{"n":1}`))
	if err := hh.PublishFrame("r", g); err != nil {
		t.Fatal(err)
	}
	recs, err := store.Read(context.Background(), "r", Position{}, 10)
	if err != nil || len(recs) != 1 || string(recs[0].Data) != `{"n":1}` {
		t.Fatalf("the store has %+v (%v), want the frame's payload", recs, err)
	}
	var q []queuedFrame
	testkit.Eventually(t, "the store's frame queued", func() bool {
		q = append(q, queuedFrames(m)...)
		return len(q) > 0
	})
	if len(q) != 1 || q[0].frame != nil || q[0].pm == nil {
		t.Errorf("the member got %+v, want the store's prepared frame", q)
	}
}

// However frames of any size are published and taken concurrently, what a
// member's queue holds never exceeds its byte bound, but for one frame
// larger than the bound, queued alone.
func TestQueuedBytesNeverExceedBound(t *testing.T) {
	const bound = 256 << 10
	opts, err := prepareOptions([]*Options{{HubQueueSize: 1 << 20, HubQueueBytes: bound}})
	if err != nil {
		t.Fatal(err)
	}
	c := fakeConn(t, 8)
	c.opts, c.queue = opts, outbox{max: opts.HubQueueSize, maxBytes: opts.HubQueueBytes}
	h := newHub(t, &HubOptions{SlowClientPolicy: DropMessage})
	h.Join("r", c)

	var frames []*Frame
	for _, n := range []int{1, 100, 4 << 10, 64 << 10, 200 << 10, bound, bound + 1} {
		f, err := NewFrame(BinaryMessage, []byte(strings.Repeat("x", n)))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	stop := make(chan struct{})
	var publishers sync.WaitGroup
	for i := range 4 {
		publishers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for range 2000 {
				h.PublishFrame("r", frames[r.IntN(len(frames))])
			}
		})
	}
	taken := 0
	var taker sync.WaitGroup
	taker.Go(func() {
		for {
			q := c.queue.take(nil)
			sum := 0
			for _, f := range q {
				sum += f.size
			}
			if sum > bound && len(q) > 1 {
				t.Errorf("took %d frames of %d bytes in all, over the bound of %d", len(q), sum, bound)
			}
			taken += len(q)
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	publishers.Wait()
	close(stop)
	taker.Wait()
	s := h.Stats()
	if s.MessagesOut+s.Dropped != 8000 || taken+len(queuedFrames(c)) != int(s.MessagesOut) {
		t.Errorf("stats %+v, %d frames taken: every publish is queued or dropped, every queued frame taken once", s, taken)
	}
}

// Frames reach real clients intact and in order among other messages,
// small and large, alone and in bursts, with compression and without; with
// compression a frame is prepared (compressed) once for every connection.
func TestFrameOverRealSockets(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compression=%v", compress), func(t *testing.T) {
			h := newHub(t, nil)
			opts := quiet()
			opts.EnableCompression = compress
			ts := hubServer(t, h, opts)
			d := websocket.Dialer{HandshakeTimeout: waitTimeout, EnableCompression: compress}
			var clients []*websocket.Conn
			for _, room := range []string{"a", "b"} {
				ws, _, err := d.Dial(ts.wsURL()+"?room="+room, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer ws.Close()
				clients = append(clients, ws)
			}
			testkit.Eventually(t, "a member in each room", func() bool { return h.Count("a") == 1 && h.Count("b") == 1 })
			for _, room := range []string{"a", "b"} {
				if c := h.Members(room)[0]; c.deflate != compress {
					t.Fatalf("deflate = %v, want %v", c.deflate, compress)
				}
			}

			var want []string
			var frames []*Frame
			for i, n := range []int{10, 4000, 5000, 70000, 0, 300} {
				text := fmt.Sprintf("%d:", i) + strings.Repeat("é", n/2)
				f, err := NewFrame(TextMessage, []byte(text))
				if err != nil {
					t.Fatal(err)
				}
				frames = append(frames, f)
				for _, room := range []string{"a", "b"} {
					if err := h.PublishFrame(room, f); err != nil {
						t.Fatal(err)
					}
				}
				want = append(want, text)
				plain := fmt.Sprintf("plain %d", i)
				h.Publish("a", TextMessage, []byte(plain))
				h.Publish("b", TextMessage, []byte(plain))
				want = append(want, plain)
			}
			for i, ws := range clients {
				for j, w := range want {
					if mt, got := readText(t, ws); mt != TextMessage || got != w {
						t.Fatalf("client %d, message %d: got type %d, %d bytes %.20q…; want %d bytes %.20q…", i, j, mt, len(got), got, len(w), w)
					}
				}
			}
			for i, f := range frames {
				if (f.pm != nil) != compress {
					t.Errorf("frame %d: prepared %v, want %v (compressed once for all only with compression)", i, f.pm != nil, compress)
				}
			}
		})
	}
}
