package natsjs_test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
	"github.com/macaron-contrib/sockets/natsjs"
)

// countingConn counts what its connection writes containing pattern and,
// once held, keeps its reads waiting until release is closed: the client
// then sees no answer while it goes on writing.
type countingConn struct {
	net.Conn
	c *counter
}

type counter struct {
	pattern []byte
	n       atomic.Int64
	held    atomic.Bool
	release chan struct{}
	once    sync.Once
}

// open lets the held reads go, and every later one.
func (c *counter) open() {
	c.held.Store(false)
	c.once.Do(func() { close(c.release) })
}

func newCounter(pattern string) *counter {
	return &counter{pattern: []byte(pattern), release: make(chan struct{})}
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.c.n.Add(int64(bytes.Count(b, c.c.pattern)))
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	if c.c.held.Load() {
		<-c.c.release
	}
	return c.Conn.Read(b)
}

// dialCounted is a connection whose writes c counts.
func dialCounted(t testing.TB, url string, c *counter) *nats.Conn {
	t.Helper()
	t.Cleanup(c.open)
	return dial(t, url, nats.SetCustomDialer(wrapDialer(func(conn net.Conn) net.Conn { return &countingConn{Conn: conn, c: c} })))
}

// Without ExactGaps, one History's appends to one room are in flight
// together: 8 appends at once are all published before the server's
// answer to any of them reaches the client (with ExactGaps they go one at
// a time, and the second would wait for the first's answer).
func TestAppendsToOneRoomGoAtOnce(t *testing.T) {
	srv := startJS(t)
	name := uniqueName("ATONCE")
	c := newCounter("HPUB test." + name)
	h := newHistory(t, dialCounted(t, srv.ClientURL(), c), &natsjs.HistoryOptions{Stream: name, SubjectPrefix: "test." + name})
	const n = 8
	c.held.Store(true)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := h.Append(ctxT(t), "r", sockets.TextMessage, []byte("x"), strconv.Itoa(i))
			errs <- err
		})
	}
	testkit.Eventually(t, fmt.Sprintf("%d appends published with no answer read", n), func() bool { return c.n.Load() == n })
	c.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Two instances appending to one room at once, from 4 goroutines each,
// publish exactly once per append: the one round trip issue #13 allows
// (with ExactGaps, they refuse each other's stale guesses, and publish
// again). Every record is stored once, and a follower gets them all, in
// the stream's order, with no gap told: the room keeps everything, and
// the follower asks the server nothing to know it (the room's records
// follow each other in the stream).
func TestAppendIsOnePublish(t *testing.T) {
	srv := startJS(t)
	name := uniqueName("ONCE")
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000}, Stream: name, SubjectPrefix: "test." + name}
	pubs := []*counter{newCounter("HPUB test." + name), newCounter("HPUB test." + name)}
	a := newHistory(t, dialCounted(t, srv.ClientURL(), pubs[0]), o)
	b := newHistory(t, dialCounted(t, srv.ClientURL(), pubs[1]), o)
	gets := newCounter("DIRECT.GET")
	f := newHistory(t, dialCounted(t, srv.ClientURL(), gets), o)
	followed := followAll(t, f, "r")
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprint(w, "-", i)
				if _, err := s.Append(ctxT(t), "r", sockets.TextMessage, []byte(id), id); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := pubs[0].n.Load() + pubs[1].n.Load(); got != writers*each {
		t.Fatalf("%d publishes for %d appends, want one each", got, writers*each)
	}
	read, err := a.Read(ctxT(t), "r", sockets.Position{}, 0)
	if err != nil || len(read) != writers*each {
		t.Fatalf("Read: %d records, %v; want %d", len(read), err, writers*each)
	}
	testkit.Eventually(t, "every record followed", func() bool { return len(followed()) == len(read) })
	for i, r := range followed() {
		if r.Pos != read[i].Pos || r.Missed {
			t.Fatalf("followed record %d at %v, Missed %v; want %v, not Missed", i, r.Pos, r.Missed, read[i].Pos)
		}
	}
	if n := gets.n.Load(); n != 0 {
		t.Fatalf("the follower sent %d direct gets; within the room's Size it needs none", n)
	}
}

// heldFollower follows room in h, holding its first delivery until the
// returned release is called; got gives what it delivered so far.
func heldFollower(t *testing.T, h sockets.HistoryStore, room string) (got func() []sockets.Record, held <-chan struct{}, release func()) {
	t.Helper()
	var mu sync.Mutex
	var recs []sockets.Record
	holding, letGo := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(letGo) }) }
	stop, err := h.Follow(room, func(r sockets.Record) {
		mu.Lock()
		recs = append(recs, r)
		first := len(recs) == 1
		mu.Unlock()
		if first {
			close(holding)
			<-letGo
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	t.Cleanup(release) // first: stop waits for the delivery held
	return func() []sockets.Record {
		mu.Lock()
		defer mu.Unlock()
		return append([]sockets.Record(nil), recs...)
	}, holding, release
}

// neverSilent fails unless got, what a follower delivered of appended
// (in order), is in order, each once, and has Missed set on every record
// after skipped ones; it returns how many records were skipped.
func neverSilent(t *testing.T, got []sockets.Record, appended []sockets.Position) int {
	t.Helper()
	index := make(map[sockets.Position]int, len(appended))
	for i, p := range appended {
		index[p] = i
	}
	last, skipped := -1, 0
	for k, r := range got {
		i, ok := index[r.Pos]
		if !ok || i <= last {
			t.Fatalf("record %d at %v: not appended, out of order or twice", k, r.Pos)
		}
		if i > last+1 && !r.Missed {
			t.Fatalf("record %d at %v: %d records skipped before it, and Missed is not set", k, r.Pos, i-last-1)
		}
		skipped += i - last - 1
		last = i
	}
	return skipped
}

// heldBack holds a follower of room "r" on f in its first record while w
// appends 1200 more (more than the follower fetches), then runs meanwhile
// (if not nil) with what was appended, which returns what it appended
// too, and lets the follower go. It fails unless the follower delivered
// the newest record, told every gap, and skipped some (else the test
// proves nothing); it returns every record appended, in order.
func heldBack(t *testing.T, f, w *natsjs.History, meanwhile func([]sockets.Position) []sockets.Position) []sockets.Position {
	t.Helper()
	got, held, release := heldFollower(t, f, "r")
	appended := appendN(t, w, "r", 1, "first")
	<-held
	appended = append(appended, appendN(t, w, "r", 1200, "m")...)
	if meanwhile != nil {
		appended = append(appended, meanwhile(appended)...)
	}
	release()
	newest := appended[len(appended)-1]
	testkit.Eventually(t, "the newest record followed", func() bool {
		g := got()
		return len(g) > 0 && g[len(g)-1].Pos == newest
	})
	if skipped := neverSilent(t, got(), appended); skipped == 0 {
		t.Fatalf("the follower held back got all %d records: none was dropped, the test proves nothing", len(appended))
	}
	return appended
}

// A follower held back while its room's records expire (MaxAge) before it
// read them tells the gap: the room keeps them all by count.
func TestFollowTellsExpiredGap(t *testing.T) {
	srv := startJS(t)
	name := uniqueName("EXPIRE")
	const maxAge = time.Second
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000, MaxAge: maxAge}, Stream: name, SubjectPrefix: "test." + name}
	a := newHistory(t, dial(t, srv.ClientURL()), o)
	b := newHistory(t, dial(t, srv.ClientURL()), o)
	heldBack(t, a, b, func([]sockets.Position) []sockets.Position {
		testkit.Eventually(t, "the room's records expired", func() bool {
			recs, err := b.Read(ctxT(t), "r", sockets.Position{}, 0)
			return err == nil && len(recs) == 0
		})
		return appendN(t, b, "r", 1, "after")
	})
}

// A follower asks the server for the room's oldest record once for each
// record that does not follow the one before it in the stream (another
// room's messages came between), and for no other; it tells no gap where
// there was none: in a room that keeps fewer than Size records (its
// first record too, which came after another room's, when the room had
// none as Follow began), and in a room that keeps Size records, the last
// one it had among them.
func TestFollowAsksOnlyAcrossOtherRooms(t *testing.T) {
	srv := startJS(t)
	for _, size := range []int{1000, 5} {
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) { followAcrossOtherRooms(t, srv.ClientURL(), size) })
	}
}

func followAcrossOtherRooms(t *testing.T, url string, size int) {
	name := uniqueName("ACROSS")
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: size}, Stream: name, SubjectPrefix: "test." + name}
	gets := newCounter("DIRECT.GET")
	f := newHistory(t, dialCounted(t, url, gets), o)
	b := newHistory(t, dial(t, url), o)
	followed := followAll(t, f, "r")
	var appended []sockets.Position
	jumps := 0
	for i := range 60 {
		if i%3 == 0 {
			appendN(t, b, "other", 1+i%2, fmt.Sprint("other", i))
			jumps++
		}
		appended = append(appended, appendN(t, b, "r", 1, fmt.Sprint("r", i))...)
		// Each record delivered before the next is appended: the
		// follower is never behind.
		testkit.Eventually(t, fmt.Sprint("record ", i, " followed"), func() bool { return len(followed()) == len(appended) })
	}
	for i, r := range followed() {
		if r.Pos != appended[i] || r.Missed {
			t.Fatalf("followed record %d at %v, Missed %v; want %v, not Missed", i, r.Pos, r.Missed, appended[i])
		}
	}
	if n := gets.n.Load(); n != int64(jumps) {
		t.Fatalf("the follower sent %d direct gets; want one for each of the %d records after another room's", n, jumps)
	}
}

// A stream with a limit of its own (MaxMsgs) drops a room's records
// whatever the room's count: a follower held back past it tells the gap.
func TestFollowTellsGapOfStreamLimits(t *testing.T) {
	srv := startJS(t)
	name := uniqueName("LIMITS")
	prefix := "test." + name
	js := jsOf(t, srv.ClientURL())
	if _, err := js.CreateStream(ctxT(t), jetstream.StreamConfig{
		Name: name, Subjects: []string{prefix + ".>"}, MaxMsgsPerSubject: 1000, MaxMsgs: 50, Discard: jetstream.DiscardOld,
		Storage: jetstream.FileStorage, Duplicates: natsjs.DefaultDuplicates, AllowDirect: true,
	}); err != nil {
		t.Fatal(err)
	}
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000}, Stream: name, SubjectPrefix: prefix}
	a := newHistory(t, dial(t, srv.ClientURL()), o)
	b := newHistory(t, dial(t, srv.ClientURL()), o)
	heldBack(t, a, b, nil)
}

// A stream whose rooms keep one record chains its appends without
// ExactGaps (HeaderPrev names the room's previous message): otherwise
// each record after another room's would tell a gap.
func TestSizeOneChains(t *testing.T) {
	srv := startJS(t)
	name := uniqueName("ONE")
	h := newHistory(t, dial(t, srv.ClientURL()), &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1}, Stream: name, SubjectPrefix: "test." + name})
	followed := followAll(t, h, "r")
	first := appendN(t, h, "r", 1, "a")
	// Followed before the next replaces it.
	testkit.Eventually(t, "the first record followed", func() bool { return len(followed()) == 1 })
	appendN(t, h, "other", 1, "o")
	second := appendN(t, h, "r", 1, "b")
	stream, err := jsOf(t, srv.ClientURL()).Stream(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetMsg(ctxT(t), second[0].Offset)
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Header.Get(natsjs.HeaderPrev); v != strconv.FormatUint(first[0].Offset, 10) {
		t.Fatalf("%s of the room's second record: %q, want %d", natsjs.HeaderPrev, v, first[0].Offset)
	}
	testkit.Eventually(t, "both records followed", func() bool { return len(followed()) == 2 })
	for _, r := range followed() {
		if r.Missed {
			t.Fatalf("record at %v told a gap", r.Pos)
		}
	}
}

// A follower behind asks once for every record it has received by then:
// held while 100 records of its room, each after another room's, are
// sent to its consumer, it then delivers them all, with no gap told,
// asking far fewer questions than there were records.
func TestFollowBehindAsksOnceForWhatItReceived(t *testing.T) {
	srv := startJS(t)
	name := uniqueName("BEHIND")
	o := &natsjs.HistoryOptions{HistoryOptions: sockets.HistoryOptions{Size: 1000}, Stream: name, SubjectPrefix: "test." + name}
	gets := newCounter("DIRECT.GET")
	f := newHistory(t, dialCounted(t, srv.ClientURL(), gets), o)
	b := newHistory(t, dial(t, srv.ClientURL()), o)
	got, held, release := heldFollower(t, f, "r")
	appended := appendN(t, b, "r", 1, "first")
	<-held
	const n = 100
	for i := range n {
		appendN(t, b, "other", 1, fmt.Sprint("other", i))
		appended = append(appended, appendN(t, b, "r", 1, fmt.Sprint("r", i))...)
	}
	stream, err := jsOf(t, srv.ClientURL()).Stream(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every record sent to the follower's consumer", func() bool {
		return sentToConsumers(t, stream) >= appended[len(appended)-1].Offset
	})
	release()
	testkit.Eventually(t, "every record followed", func() bool { return len(got()) == len(appended) })
	for i, r := range got() {
		if r.Pos != appended[i] || r.Missed {
			t.Fatalf("followed record %d at %v, Missed %v; want %v, not Missed", i, r.Pos, r.Missed, appended[i])
		}
	}
	if q := gets.n.Load(); q > n/2 {
		t.Fatalf("the follower asked %d questions for %d records after another room's; want one for all it had received", q, n)
	}
	t.Logf("%d records after another room's, %d questions", n, gets.n.Load())
}
