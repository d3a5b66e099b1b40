package natsjs_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// TestPresenceWireLayout: the bucket, its keys and values are what the
// package documentation says.
func TestPresenceWireLayout(t *testing.T) {
	s := startJS(t)
	p := newPresence(t, dial(t, s.ClientURL()), &natsjs.PresenceOptions{PresenceOptions: sockets.PresenceOptions{Lease: 3 * time.Second}})
	js := jsOf(t, s.ClientURL())
	kv, err := js.KeyValue(ctxT(t), natsjs.DefaultBucket)
	if err != nil {
		t.Fatalf("the default bucket: %v", err)
	}
	st, err := kv.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Config(); c.TTL != 3*time.Second || c.LimitMarkerTTL != 3*time.Second || c.History != 1 || c.Storage != jetstream.FileStorage {
		t.Fatalf("bucket config: %+v", c)
	}
	room, key := "room.with *>", "ké y"
	before := time.Now()
	if _, err := p.Claim(ctxT(t), room, key, []byte("info")); err != nil {
		t.Fatal(err)
	}
	k := base64.RawURLEncoding.EncodeToString([]byte(room)) + "." + base64.RawURLEncoding.EncodeToString([]byte(key))
	e, err := kv.Get(ctxT(t), k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	var v struct {
		C string `json:"c"`
		S int64  `json:"s"`
		I []byte `json:"i"`
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil || v.C == "" || string(v.I) != "info" ||
		time.Unix(0, v.S).Before(before) || time.Unix(0, v.S).After(time.Now()) {
		t.Fatalf("value %s: %v", e.Value(), err)
	}
}

// TestPresenceIncompatibleBucket: a bucket that exists with other settings
// is refused with the setting named, and left as it was.
func TestPresenceIncompatibleBucket(t *testing.T) {
	s := startJS(t)
	js := jsOf(t, s.ClientURL())
	cases := []struct {
		setting string
		cfg     jetstream.KeyValueConfig
	}{
		{"TTL", jetstream.KeyValueConfig{TTL: 5 * time.Second, LimitMarkerTTL: time.Second}},
		{"LimitMarkerTTL", jetstream.KeyValueConfig{TTL: 10 * time.Second}},
		{"History", jetstream.KeyValueConfig{TTL: 10 * time.Second, LimitMarkerTTL: time.Second, History: 5}},
		{"Storage", jetstream.KeyValueConfig{TTL: 10 * time.Second, LimitMarkerTTL: time.Second, Storage: jetstream.MemoryStorage}},
		{"MaxValueSize", jetstream.KeyValueConfig{TTL: 10 * time.Second, LimitMarkerTTL: time.Second, MaxValueSize: 100}},
	}
	for _, c := range cases {
		t.Run(c.setting, func(t *testing.T) {
			c.cfg.Bucket = uniqueName("INC")
			if _, err := js.CreateKeyValue(ctxT(t), c.cfg); err != nil {
				t.Fatalf("CreateKeyValue: %v", err)
			}
			_, err := natsjs.NewPresence(ctxT(t), dial(t, s.ClientURL()), &natsjs.PresenceOptions{Bucket: c.cfg.Bucket})
			if !errors.Is(err, natsjs.ErrIncompatible) || !strings.Contains(err.Error(), c.setting) {
				t.Fatalf("NewPresence: %v, want ErrIncompatible naming %s", err, c.setting)
			}
			t.Log(err)
			kv, _ := js.KeyValue(ctxT(t), c.cfg.Bucket)
			st, _ := kv.Status(ctxT(t))
			if st.TTL() != c.cfg.TTL {
				t.Fatalf("the bucket was changed: TTL %v, was %v", st.TTL(), c.cfg.TTL)
			}
		})
	}
}

// TestClaimLostToAnother: a claim whose key was taken by another (its
// purge by hand, then a claim elsewhere) is Lost at the next renewal, and
// its renewals do not overwrite the new holder.
func TestClaimLostToAnother(t *testing.T) {
	s := startJS(t)
	o := &natsjs.PresenceOptions{Bucket: uniqueName("P"), PresenceOptions: sockets.PresenceOptions{Lease: time.Second}}
	a := newPresence(t, dial(t, s.ClientURL()), o)
	b := newPresence(t, dial(t, s.ClientURL()), o)
	c, err := a.Claim(ctxT(t), "r", "k", []byte("a's"))
	if err != nil {
		t.Fatal(err)
	}
	events := &eventLog{}
	stop, err := b.Watch("r", events.add)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	js := jsOf(t, s.ClientURL())
	kv, err := js.KeyValue(ctxT(t), o.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	// The key of member k of room r, as the package documentation lays it
	// out (TestPresenceWireLayout checks the package does).
	key := base64.RawURLEncoding.EncodeToString([]byte("r")) + "." + base64.RawURLEncoding.EncodeToString([]byte("k"))
	if err := kv.Purge(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctxT(t), "r", "k", []byte("b's")); err != nil {
		t.Fatalf("b's claim after the purge: %v", err)
	}
	select {
	case <-c.Lost():
	case <-time.After(testkit.Wait):
		t.Fatalf("a's claim not Lost within %v of its key going to b", testkit.Wait)
	}
	// Renewals went on meanwhile: b still holds the key.
	time.Sleep(o.Lease)
	ms, err := a.Members(ctxT(t), "r")
	if err != nil || len(ms) != 1 || string(ms[0].Info) != "b's" {
		t.Fatalf("members: %v, %+v", err, ms)
	}
	// Releasing a lost claim releases nothing.
	if err := c.Release(ctxT(t)); err != nil {
		t.Fatalf("Release of a lost claim: %v", err)
	}
	if ms, err := b.Members(ctxT(t), "r"); err != nil || len(ms) != 1 {
		t.Fatalf("after a's release of a lost claim: %v, %+v", err, ms)
	}
	got := events.get()
	if len(got) != 3 || got[0].Left || string(got[0].Info) != "a's" || !got[1].Left || string(got[1].Info) != "a's" || got[2].Left || string(got[2].Info) != "b's" {
		t.Fatalf("b's watcher: %+v, want a's claim (there when it began), a's leave and b's join", got)
	}
}

// TestWatchStopFromCallback: stop called from the watcher's own callback
// returns, and nothing more is delivered.
func TestWatchStopFromCallback(t *testing.T) {
	s := startJS(t)
	p := newPresence(t, dial(t, s.ClientURL()), nil)
	var stop func()
	var mu sync.Mutex
	done := make(chan struct{})
	mu.Lock()
	stop, err := p.Watch("r", func(sockets.PresenceEvent) {
		mu.Lock()
		defer mu.Unlock()
		stop()
		close(done)
	})
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Claim(ctxT(t), "r", "k", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(testkit.Wait):
		t.Fatal("stop from the callback did not return")
	}
	if _, err := p.Claim(ctxT(t), "r", "k2", nil); err != nil {
		t.Fatal(err)
	}
}

// eventLog collects what a watcher is called with.
type eventLog struct {
	mu  sync.Mutex
	evs []sockets.PresenceEvent
}

func (l *eventLog) add(ev sockets.PresenceEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *eventLog) get() []sockets.PresenceEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sockets.PresenceEvent(nil), l.evs...)
}
