package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// PresenceStores returns two handles onto one new store with the given
// options; crashA, when not nil, stops handle a as a crashed instance
// would (nothing released, nothing renewed any more); nil means the
// backend has no such failure (one process) and the crash test is
// reported as not applicable with t.Log, not t.Skip.
type PresenceStores func(t *testing.T, opts sockets.PresenceOptions) (a, b sockets.PresenceStore, crashA func())

// TestPresence runs the presence behaviour tests as subtests.
func TestPresence(t *testing.T, stores PresenceStores) {
	p := presenceSuite{stores: stores}
	t.Run("ClaimAndMembers", p.claimAndMembers)
	t.Run("KeyTaken", p.keyTaken)
	t.Run("ConcurrentClaims", p.concurrentClaims)
	t.Run("Watch", p.watch)
	t.Run("Rooms", p.rooms)
	t.Run("ReleaseThenClaimElsewhere", p.releaseThenClaimElsewhere)
	t.Run("CloseReleases", p.closeReleases)
	t.Run("Crash", p.crash)
	t.Run("BadInput", p.badInput)
}

type presenceSuite struct {
	stores PresenceStores
}

// shortLease is the lease of the tests that wait for leases to pass.
const shortLease = time.Second

// leaseSlack is how long past its lease a crashed instance's member may
// take to leave.
const leaseSlack = 1500 * time.Millisecond

func (p presenceSuite) open(t *testing.T, opts sockets.PresenceOptions) (a, b sockets.PresenceStore, crashA func()) {
	t.Helper()
	a, b, crashA = p.stores(t, opts.WithDefaults())
	if a == nil || b == nil {
		t.Fatal("the factory returned a nil store")
	}
	return a, b, crashA
}

func claimOK(t *testing.T, s sockets.PresenceStore, room, key string, info []byte) sockets.Claim {
	t.Helper()
	c, err := s.Claim(testContext(t), room, key, info)
	if err != nil {
		t.Fatalf("Claim(%q, %q): %v", room, key, err)
	}
	if c == nil {
		t.Fatalf("Claim(%q, %q): a nil Claim", room, key)
	}
	return c
}

func claimTaken(t *testing.T, s sockets.PresenceStore, room, key string) {
	t.Helper()
	c, err := s.Claim(testContext(t), room, key, []byte("usurper"))
	if !errors.Is(err, sockets.ErrKeyTaken) {
		if c != nil {
			c.Release(testContext(t))
		}
		t.Fatalf("Claim(%q, %q) of a key held: %v, want an error wrapping ErrKeyTaken", room, key, err)
	}
}

func releaseOK(t *testing.T, c sockets.Claim) {
	t.Helper()
	if err := c.Release(testContext(t)); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func membersOK(t *testing.T, s sockets.PresenceStore, room string) []sockets.Member {
	t.Helper()
	m, err := s.Members(testContext(t), room)
	if err != nil {
		t.Fatalf("Members(%q): %v", room, err)
	}
	return m
}

// member is a Member expected, Since aside.
type member struct {
	key  string
	info string
}

func formatMembers(ms []sockets.Member) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "\t{key %q info %q since %v}\n", m.Key, m.Info, m.Since)
	}
	return b.String()
}

// expectMembers fails unless got is want (ordered by key), with Since
// between from and to (a second of slack each side).
func expectMembers(t *testing.T, what string, got []sockets.Member, want []member, from, to time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d members, want %d:\n%s", what, len(got), len(want), formatMembers(got))
	}
	for i, m := range got {
		if m.Key != want[i].key || string(m.Info) != want[i].info {
			t.Fatalf("%s: member %d is %q with info %q, want %q with %q:\n%s", what, i, m.Key, m.Info, want[i].key, want[i].info, formatMembers(got))
		}
		if m.Since.Before(from.Add(-time.Second)) || m.Since.After(to.Add(time.Second)) {
			t.Fatalf("%s: member %q since %v, not between %v and %v", what, m.Key, m.Since, from, to)
		}
	}
}

// eventLog collects what a watcher is called with.
type eventLog struct {
	mu  sync.Mutex
	evs []sockets.PresenceEvent
}

func (l *eventLog) add(ev sockets.PresenceEvent) {
	ev.Info = append([]byte(nil), ev.Info...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *eventLog) got() []sockets.PresenceEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sockets.PresenceEvent(nil), l.evs...)
}

func (l *eventLog) String() string {
	var b strings.Builder
	for _, ev := range l.got() {
		fmt.Fprintf(&b, "\t{room %q key %q info %q left %v}\n", ev.Room, ev.Key, ev.Info, ev.Left)
	}
	return b.String()
}

func watchOK(t *testing.T, s sockets.PresenceStore, room string) (*eventLog, func()) {
	t.Helper()
	l := &eventLog{}
	stop, err := s.Watch(room, l.add)
	if err != nil {
		t.Fatalf("Watch(%q): %v", room, err)
	}
	t.Cleanup(stop)
	return l, stop
}

// event is a PresenceEvent expected.
type event struct {
	key  string
	info string
	left bool
}

// waitEvents waits until l has n events and checks them against want,
// in order. A leave's info may be nil (not known); when given, it must be
// the member's.
func waitEvents(t *testing.T, what string, l *eventLog, room string, want []event) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%s: %d events", what, len(want)), func() bool { return len(l.got()) >= len(want) })
	got := l.got()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d:\n%s", what, len(got), len(want), l)
	}
	for i, ev := range got {
		w := want[i]
		infoOK := string(ev.Info) == w.info || (w.left && ev.Info == nil)
		if ev.Room != room || ev.Key != w.key || ev.Left != w.left || !infoOK {
			t.Fatalf("%s: event %d is {room %q key %q info %q left %v}, want {room %q key %q info %q left %v}:\n%s",
				what, i, ev.Room, ev.Key, ev.Info, ev.Left, room, w.key, w.info, w.left, l)
		}
	}
}

// claimAndMembers: members are listed by key, with their info, on both
// handles; a release removes one.
func (p presenceSuite) claimAndMembers(t *testing.T) {
	a, b, _ := p.open(t, sockets.PresenceOptions{})
	from := time.Now()
	bob := claimOK(t, a, "room", "bob", []byte("Bob B."))
	alice := claimOK(t, b, "room", "alice", []byte("Alice A."))
	claimOK(t, a, "room", "zoë", nil)
	claimOK(t, a, "other", "carol", []byte("C"))
	to := time.Now()
	for _, s := range []sockets.PresenceStore{a, b} {
		expectMembers(t, "room", membersOK(t, s, "room"),
			[]member{{"alice", "Alice A."}, {"bob", "Bob B."}, {"zoë", ""}}, from, to)
		expectMembers(t, "other", membersOK(t, s, "other"), []member{{"carol", "C"}}, from, to)
		if got := membersOK(t, s, "nobody here"); len(got) != 0 {
			t.Fatalf("a room no one claimed has members:\n%s", formatMembers(got))
		}
	}
	releaseOK(t, bob)
	for _, s := range []sockets.PresenceStore{a, b} {
		expectMembers(t, "after bob's release", membersOK(t, s, "room"), []member{{"alice", "Alice A."}, {"zoë", ""}}, from, to)
	}
	releaseOK(t, alice)
	for _, s := range []sockets.PresenceStore{a, b} {
		expectMembers(t, "after alice's release", membersOK(t, s, "room"), []member{{"zoë", ""}}, from, to)
	}
	select {
	case <-bob.Lost():
		t.Fatal("a released claim's Lost is closed")
	default:
	}
}

// keyTaken: a key held is refused, on either handle; the same key in
// another room is not.
func (p presenceSuite) keyTaken(t *testing.T) {
	a, b, _ := p.open(t, sockets.PresenceOptions{})
	claimOK(t, a, "r", "k", []byte("first"))
	claimTaken(t, b, "r", "k")
	claimTaken(t, a, "r", "k")
	claimOK(t, b, "r2", "k", nil)
	claimOK(t, b, "r", "k2", nil)
	from := time.Now().Add(-testkit.Wait)
	expectMembers(t, "r", membersOK(t, b, "r"), []member{{"k", "first"}, {"k2", ""}}, from, time.Now())
}

// concurrentClaims: of claims of one key made at the same moment on both
// handles, exactly one wins.
func (p presenceSuite) concurrentClaims(t *testing.T) {
	const claimers = 20
	a, b, _ := p.open(t, sockets.PresenceOptions{})
	for round := range 5 {
		key := fmt.Sprint("key-", round)
		start := make(chan struct{})
		results := make([]error, claimers)
		var wg sync.WaitGroup
		for i := range claimers {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				<-start
				_, results[i] = s.Claim(testContext(t), "race", key, fmt.Append(nil, i))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range results {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: claimers %d and %d both hold %q", round, winner, i, key)
			case err == nil:
				winner = i
			case !errors.Is(err, sockets.ErrKeyTaken):
				t.Fatalf("round %d: claimer %d: %v, want nil or an error wrapping ErrKeyTaken", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no claimer won %q", round, key)
		}
		var found bool
		for _, m := range membersOK(t, a, "race") {
			if m.Key == key {
				found = true
				if string(m.Info) != fmt.Sprint(winner) {
					t.Fatalf("round %d: %q has the info %q of a loser, claimer %d won", round, key, m.Info, winner)
				}
			}
		}
		if !found {
			t.Fatalf("round %d: the winner's %q is not a member", round, key)
		}
	}
}

// watch: a watcher on b sees first the members there when it started, as
// joins ordered by key, then a's joins and leaves with their info, not
// renewals, and nothing after stop.
func (p presenceSuite) watch(t *testing.T) {
	a, b, _ := p.open(t, sockets.PresenceOptions{Lease: shortLease})
	pre := claimOK(t, a, "w", "pre", []byte("was there"))
	first := claimOK(t, a, "w", "first", []byte("before pre"))
	l, stop := watchOK(t, b, "w")
	// The members there are reported before Watch returns: no wait.
	if n := len(l.got()); n != 2 {
		t.Fatalf("when Watch returned, %d events, want the 2 members there:\n%s", n, l)
	}
	other, _ := watchOK(t, b, "elsewhere")
	waitEvents(t, "the members there", l, "w", []event{{"first", "before pre", false}, {"pre", "was there", false}})
	releaseOK(t, first)
	k := claimOK(t, a, "w", "k", []byte("hello"))
	waitEvents(t, "a's join", l, "w", []event{{"first", "before pre", false}, {"pre", "was there", false}, {"first", "before pre", true}, {"k", "hello", false}})
	// Leases renewed meanwhile are not joins.
	time.Sleep(shortLease * 3 / 2)
	select {
	case <-k.Lost():
		t.Fatal("a claim held and renewed was lost")
	default:
	}
	releaseOK(t, k)
	releaseOK(t, pre)
	waitEvents(t, "a's leaves", l, "w", []event{{"first", "before pre", false}, {"pre", "was there", false}, {"first", "before pre", true},
		{"k", "hello", false}, {"k", "hello", true}, {"pre", "was there", true}})
	if evs := other.got(); len(evs) != 0 {
		t.Fatalf("a watcher of another room got events:\n%s", other)
	}
	stop()
	stop() // twice is harmless
	after, _ := watchOK(t, b, "w")
	claimOK(t, a, "w", "late", nil)
	waitEvents(t, "a new watcher", after, "w", []event{{"late", "", false}})
	if n := len(l.got()); n != 6 {
		t.Fatalf("a stopped watcher got events after stop:\n%s", l)
	}
}

// rooms: Rooms lists the rooms with members on every handle, with their
// counts, whatever their names; a room everyone left is not listed.
func (p presenceSuite) rooms(t *testing.T) {
	a, b, _ := p.open(t, sockets.PresenceOptions{})
	odd := "a.b *>\u00e9 " + strings.Repeat("x", 40)
	claimOK(t, a, "one", "ann", nil)
	gone := claimOK(t, b, "one", "bob", nil)
	claimOK(t, b, odd, "carl", nil)
	left := claimOK(t, a, "empty", "dan", nil)
	releaseOK(t, left)
	releaseOK(t, gone)
	claimOK(t, a, "one", "eve", nil)
	want := map[string]int{"one": 2, odd: 1}
	for name, s := range map[string]sockets.PresenceStore{"a": a, "b": b} {
		var got []sockets.RoomCount
		testkit.Eventually(t, "the rooms on "+name, func() bool {
			var err error
			got, err = s.Rooms(testContext(t))
			if err != nil {
				t.Fatalf("Rooms on %s: %v", name, err)
			}
			return len(got) == len(want)
		})
		for _, rc := range got {
			if want[rc.Room] != rc.Members {
				t.Fatalf("Rooms on %s: %+v, want %v", name, got, want)
			}
		}
	}
}

// releaseThenClaimElsewhere: a key released on a can be claimed on b.
func (p presenceSuite) releaseThenClaimElsewhere(t *testing.T) {
	a, b, _ := p.open(t, sockets.PresenceOptions{})
	from := time.Now()
	for i := range 3 {
		c := claimOK(t, a, "r", "k", fmt.Append(nil, "a", i))
		claimTaken(t, b, "r", "k")
		releaseOK(t, c)
		c = claimOK(t, b, "r", "k", fmt.Append(nil, "b", i))
		expectMembers(t, "claimed on b", membersOK(t, a, "r"), []member{{"k", fmt.Sprint("b", i)}}, from, time.Now())
		releaseOK(t, c)
	}
	if got := membersOK(t, a, "r"); len(got) != 0 {
		t.Fatalf("members after every release:\n%s", formatMembers(got))
	}
}

// closeReleases: closing a releases its claims: b sees them leave and can
// claim the keys.
func (p presenceSuite) closeReleases(t *testing.T) {
	a, b, _ := p.open(t, sockets.PresenceOptions{})
	if sameHandle(a, b) {
		claimOK(t, a, "r", "k1", nil)
		if err := a.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := a.Claim(testContext(t), "r", "k2", nil); !errors.Is(err, sockets.ErrStoreClosed) {
			t.Fatalf("Claim after Close: %v, want an error wrapping ErrStoreClosed", err)
		}
		t.Log("one handle: the other handle's part does not apply")
		return
	}
	l, _ := watchOK(t, b, "r")
	claimOK(t, a, "r", "k1", []byte("one"))
	claimOK(t, a, "r", "k2", []byte("two"))
	claimOK(t, b, "r", "kb", []byte("b's"))
	waitEvents(t, "joins", l, "r", []event{{"k1", "one", false}, {"k2", "two", false}, {"kb", "b's", false}})
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := a.Claim(testContext(t), "r", "k3", nil); !errors.Is(err, sockets.ErrStoreClosed) {
		t.Fatalf("Claim after Close: %v, want an error wrapping ErrStoreClosed", err)
	}
	testkit.Eventually(t, "a's members left", func() bool { return len(l.got()) >= 5 })
	left := map[string]bool{}
	for _, ev := range l.got()[3:] {
		if !ev.Left || (ev.Info != nil && string(ev.Info) != map[string]string{"k1": "one", "k2": "two"}[ev.Key]) {
			t.Fatalf("after Close: %+v:\n%s", ev, l)
		}
		left[ev.Key] = true
	}
	if !left["k1"] || !left["k2"] {
		t.Fatalf("after Close, not both of a's members left:\n%s", l)
	}
	from := time.Now().Add(-testkit.Wait)
	expectMembers(t, "after Close", membersOK(t, b, "r"), []member{{"kb", "b's"}}, from, time.Now())
	claimOK(t, b, "r", "k1", nil)
}

// crash: a's members leave within the lease, and a small margin
// (leaseSlack), after a stops without releasing them.
func (p presenceSuite) crash(t *testing.T) {
	a, b, crashA := p.open(t, sockets.PresenceOptions{Lease: shortLease})
	if crashA == nil {
		t.Log("not applicable: this backend has no instance that can crash apart from the others")
		return
	}
	l, _ := watchOK(t, b, "r")
	claimOK(t, a, "r", "gone", []byte("crashed"))
	claimOK(t, b, "r", "stays", nil)
	waitEvents(t, "joins", l, "r", []event{{"gone", "crashed", false}, {"stays", "", false}})
	crashA()
	crashed := time.Now()
	// The lease, and a margin for the backend to notice (JetStream
	// expires a key some tenths of a second after its TTL).
	within := shortLease + leaseSlack
	deadline := crashed.Add(within)
	for len(l.got()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("a's member did not leave within %v of the crash:\n%s", within, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a's member left %v after the crash (lease %v)", time.Since(crashed).Round(time.Millisecond), shortLease)
	waitEvents(t, "the crashed member's leave", l, "r", []event{{"gone", "crashed", false}, {"stays", "", false}, {"gone", "crashed", true}})
	expectMembers(t, "after the crash", membersOK(t, b, "r"), []member{{"stays", ""}}, crashed.Add(-testkit.Wait), time.Now())
	claimOK(t, b, "r", "gone", []byte("b's now"))
}

// badInput: refused with an error, and nothing stored.
func (p presenceSuite) badInput(t *testing.T) {
	a, b, _ := p.open(t, sockets.PresenceOptions{})
	ctx := testContext(t)
	bad := []string{"", "\xff\xfe", "a\xc3", "a\nb", "tab\there", "nul\x00", "del\x7f"}
	for _, name := range append(bad, strings.Repeat("r", sockets.MaxRoomLen+1)) {
		if c, err := a.Claim(ctx, name, "k", nil); err == nil {
			c.Release(ctx)
			t.Errorf("Claim in room %q: no error", name)
		}
		if ms, err := b.Members(ctx, name); err == nil {
			t.Errorf("Members of room %q: no error, %d members", name, len(ms))
		}
		if stop, err := b.Watch(name, func(sockets.PresenceEvent) {}); err == nil {
			stop()
			t.Errorf("Watch of room %q: no error", name)
		}
	}
	for _, key := range append(bad, strings.Repeat("k", sockets.MaxKeyLen+1)) {
		if c, err := a.Claim(ctx, "r", key, nil); err == nil {
			c.Release(ctx)
			t.Errorf("Claim of key %q: no error", key)
		}
	}
	if c, err := a.Claim(ctx, "r", "big", make([]byte, sockets.MaxInfoLen+1)); err == nil {
		c.Release(ctx)
		t.Errorf("Claim with %d bytes of info: no error", sockets.MaxInfoLen+1)
	}
	if got := membersOK(t, b, "r"); len(got) != 0 {
		t.Fatalf("bad claims were stored:\n%s", formatMembers(got))
	}
	// At the limits: accepted.
	from := time.Now()
	room, key := strings.Repeat("r", sockets.MaxRoomLen), strings.Repeat("é", sockets.MaxKeyLen/2)
	info := bytes.Repeat([]byte{0xff}, sockets.MaxInfoLen)
	claimOK(t, a, room, key, info)
	claimOK(t, b, room, "a.b*>", nil)
	expectMembers(t, "at the limits", membersOK(t, b, room), []member{{"a.b*>", ""}, {key, string(info)}}, from, time.Now())
}
