package natsjs_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/storetest"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// historyPair is the storetest factory of two instances, each with its
// own connection, on a new stream of srv, appending with ExactGaps or
// without.
func historyPair(url string, exact bool) storetest.HistoryStores {
	return func(t *testing.T, opts sockets.HistoryOptions) (a, b sockets.HistoryStore) {
		name := uniqueName("LAG")
		o := &natsjs.HistoryOptions{HistoryOptions: opts, Stream: name, SubjectPrefix: "test." + name, ExactGaps: exact}
		return newHistory(t, dial(t, url), o), newHistory(t, dial(t, url), o)
	}
}

// TestHistoryFollowerLagStore runs the suite of a follower that falls
// behind on JetStream, with two instances appending to the room at once:
// by default, told of every gap, and of none while the room keeps all
// that was appended; with ExactGaps, told exactly where records were
// skipped, never where none were.
func TestHistoryFollowerLagStore(t *testing.T) {
	srv := startJS(t)
	t.Run("Default", func(t *testing.T) {
		storetest.TestHistoryFollowerLagNeverSilent(t, historyPair(srv.ClientURL(), false))
	})
	t.Run("ExactGaps", func(t *testing.T) {
		storetest.TestHistoryFollowerLag(t, historyPair(srv.ClientURL(), true))
	})
}

// A follower held back while 1200 records are appended to a room that
// keeps 3 gets what its consumer had fetched, then the newest: the stream
// dropped the others before it read them, and the follower says so
// (Missed) on every record after a gap (with ExactGaps, exactly there). A
// client resuming from the last record it got before the first gap told
// is told that it cannot (the records after it are gone), never given a
// silent gap.
func TestFollowReportsGap(t *testing.T) {
	srv := startJS(t)
	for _, exact := range []bool{false, true} {
		t.Run(fmt.Sprint("exact=", exact), func(t *testing.T) { followReportsGap(t, srv.ClientURL(), exact) })
	}
}

func followReportsGap(t *testing.T, url string, exact bool) {
	got := storetest.FollowBehind(t, historyPair(url, exact), 3, 1200, exact)
	gap := -1
	for i, r := range got.Held {
		if r.Missed {
			gap = i
			break
		}
	}
	if gap < 0 || len(got.Held) >= len(got.Appended) {
		t.Fatalf("the follower held back got %d of %d records and was told of no gap", len(got.Held), len(got.Appended))
	}
	if gap > 0 {
		before := got.Held[gap-1].Pos
		for _, s := range []sockets.HistoryStore{got.A, got.B} {
			if recs, err := s.Read(ctxT(t), "lag", before, 0); !errors.Is(err, sockets.ErrCannotRecover) {
				t.Fatalf("Read since the last record before the gap, %v: %d records, %v; want ErrCannotRecover", before, len(recs), err)
			}
		}
	}
}

// A follower whose consumer has fetched records the stream then drops
// (they are in its buffer, the room keeps 3) delivers them all, and tells
// of no gap: the stream no longer keeping the last record delivered is no
// sign of one. Each append waits until the server has sent the record to
// the follower's consumer. Without ExactGaps, the server's count of what
// is pending after each (none) rules a gap out.
func TestFollowNoGapForFetchedRecords(t *testing.T) {
	srv := startJS(t)
	for _, exact := range []bool{false, true} {
		t.Run(fmt.Sprint("exact=", exact), func(t *testing.T) { followNoGapForFetchedRecords(t, srv, exact) })
	}
}

func followNoGapForFetchedRecords(t *testing.T, srv *server.Server, exact bool) {
	name := uniqueName("FETCH")
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 3}, Stream: name, SubjectPrefix: "test." + name, ExactGaps: exact}
	a := newHistory(t, dial(t, srv.ClientURL()), o)
	b := newHistory(t, dial(t, srv.ClientURL()), o)
	js := jsOf(t, srv.ClientURL())
	stream, err := js.Stream(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	var mu sync.Mutex
	var got []sockets.Record
	stop, err := a.Follow("r", func(r sockets.Record) {
		<-release
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	t.Cleanup(letGo)

	const total = 100 // within the consumer's buffer (256)
	var appended []sockets.Position
	for i := range total {
		s := a
		if i%2 == 1 {
			s = b
		}
		p, err := s.Append(ctxT(t), "r", sockets.TextMessage, []byte(strconv.Itoa(i)), strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		appended = append(appended, p)
		testkit.Eventually(t, fmt.Sprintf("record %d sent to the follower's consumer", i), func() bool {
			return sentToConsumers(t, stream) >= p.Offset
		})
	}
	if kept, err := a.Read(ctxT(t), "r", sockets.Position{}, 0); err != nil || len(kept) != 3 {
		t.Fatalf("the room keeps %d records (%v), want 3", len(kept), err)
	}
	letGo()
	testkit.Eventually(t, "every record delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == total
	})
	mu.Lock()
	defer mu.Unlock()
	for i, r := range got {
		if r.Pos != appended[i] || r.Missed {
			t.Fatalf("record %d at %v, Missed %v; want %v, not Missed", i, r.Pos, r.Missed, appended[i])
		}
	}
}

// sentToConsumers is the newest stream sequence the stream's consumers
// have been sent.
func sentToConsumers(t *testing.T, stream jetstream.Stream) uint64 {
	t.Helper()
	var newest uint64
	list := stream.ListConsumers(ctxT(t))
	for info := range list.Info() {
		newest = max(newest, info.Delivered.Stream)
	}
	if err := list.Err(); err != nil {
		t.Fatalf("listing consumers: %v", err)
	}
	return newest
}

// Records without HeaderPrev (stored by an instance without ExactGaps, or
// as Append wrote them before HeaderPrev existed) are read and followed as
// the others, and are no sign of a gap; a record appended with ExactGaps
// after one of them chains to it.
func TestFollowRecordsWithoutPrev(t *testing.T) {
	srv := startJS(t)
	name := uniqueName("OLD")
	prefix := "test." + name
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 100}, Stream: name, SubjectPrefix: prefix, ExactGaps: true}
	h := newHistory(t, dial(t, srv.ClientURL()), o)
	js := jsOf(t, srv.ClientURL())
	subject := prefix + "." + base64.RawURLEncoding.EncodeToString([]byte("r"))
	followed := followAll(t, h, "r")
	// As the previous version of Append wrote them: type and id headers,
	// Nats-Msg-Id, no HeaderPrev, no expected sequence.
	old := func(n int) {
		t.Helper()
		m := &nats.Msg{Subject: subject, Data: []byte(fmt.Sprint("old ", n)), Header: nats.Header{}}
		m.Header.Set(natsjs.HeaderType, "1")
		if _, err := js.PublishMsg(ctxT(t), m, jetstream.WithExpectStream(name)); err != nil {
			t.Fatal(err)
		}
	}
	old(1)
	old(2)
	if _, err := h.Append(ctxT(t), "r", sockets.TextMessage, []byte("new 1"), "n1"); err != nil {
		t.Fatal(err)
	}
	old(3)
	if _, err := h.Append(ctxT(t), "r", sockets.TextMessage, []byte("new 2"), "n2"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "5 records followed", func() bool { return len(followed()) == 5 })
	read, err := h.Read(ctxT(t), "r", sockets.Position{}, 0)
	if err != nil || len(read) != 5 {
		t.Fatalf("Read: %v, %d records, want 5", err, len(read))
	}
	got := followed()
	for i, want := range []string{"old 1", "old 2", "new 1", "old 3", "new 2"} {
		if string(got[i].Data) != want || got[i].Missed || got[i].Pos != read[i].Pos {
			t.Fatalf("record %d: %q at %v, Missed %v; want %q at %v, not Missed", i, got[i].Data, got[i].Pos, got[i].Missed, want, read[i].Pos)
		}
	}
}

// The chain of appends does not change de-duplication: an id appended by
// several goroutines of two instances at once is stored once, and every
// call gets its position; followers get each record once, and no gap.
func TestAppendChainKeepsDeduplication(t *testing.T) {
	srv := startJS(t)
	pair := historyPair(srv.ClientURL(), true)
	a, b := pair(t, sockets.HistoryOptions{Size: 1000})
	followed := followAll(t, b, "d")
	const ids, callers = 100, 6 // callers per instance
	positions := make([][]sockets.Position, ids)
	for i := range positions {
		positions[i] = make([]sockets.Position, 2*callers)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*callers)
	for c := range 2 * callers {
		s := a
		if c%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range ids {
				id := strconv.Itoa(i)
				ctx, cancel := context.WithTimeout(t.Context(), testkit.Wait)
				p, err := s.Append(ctx, "d", sockets.TextMessage, []byte(id), id)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				positions[i][c] = p
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, ps := range positions {
		for _, p := range ps {
			if p != ps[0] {
				t.Fatalf("id %d got positions %v: stored more than once", i, ps)
			}
		}
	}
	ctx := ctxT(t)
	read, err := a.Read(ctx, "d", sockets.Position{}, 0)
	if err != nil || len(read) != ids {
		t.Fatalf("Read: %v, %d records, want %d", err, len(read), ids)
	}
	testkit.Eventually(t, "every record followed", func() bool { return len(followed()) == ids })
	for i, r := range followed() {
		if r.Pos != read[i].Pos || r.Missed {
			t.Fatalf("followed record %d at %v, Missed %v; want %v, not Missed", i, r.Pos, r.Missed, read[i].Pos)
		}
	}
	if _, err := a.Read(ctx, "d", read[0].Pos, 0); errors.Is(err, sockets.ErrCannotRecover) {
		t.Fatalf("Read from the first record: %v", err)
	}
}

// By default, Append names no previous message (no HeaderPrev, no
// expected sequence: two instances never refuse each other), and its
// records keep the id's de-duplication; a follower held back past the
// room's Size (3) still tells every gap, from the server's count of what
// is pending and the room's oldest record kept.
func TestDefaultAppendsWithoutTheChain(t *testing.T) {
	srv := startJS(t)
	name := uniqueName("NOCHAIN")
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 3}, Stream: name, SubjectPrefix: "test." + name}
	h := newHistory(t, dial(t, srv.ClientURL()), o)
	appended := heldBack(t, h, h, func(appended []sockets.Position) []sockets.Position {
		last := appended[len(appended)-1]
		if again, err := h.Append(ctxT(t), "r", sockets.TextMessage, []byte("again"), "m1199"); err != nil || again != last {
			t.Fatalf("a repeated id: %v, %v; want the first one's position %v", again, err, last)
		}
		return nil
	})
	last := appended[len(appended)-1]
	stream, err := jsOf(t, srv.ClientURL()).Stream(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetMsg(ctxT(t), last.Offset)
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Header.Get(natsjs.HeaderPrev); v != "" {
		t.Fatalf("a record appended without ExactGaps carries %s: %q", natsjs.HeaderPrev, v)
	}
}

// followAll follows room in h until the test ends; what it returns gives
// a copy of the records delivered so far.
func followAll(t *testing.T, h sockets.HistoryStore, room string) func() []sockets.Record {
	t.Helper()
	var mu sync.Mutex
	var got []sockets.Record
	stop, err := h.Follow(room, func(r sockets.Record) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return func() []sockets.Record {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}
