package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/macaron-contrib/sockets"
	"github.com/macaron-contrib/sockets/internal/testkit"
)

// TestHistoryFollowerLag runs, as subtests, the behaviour of a follower
// that falls behind: it is given every record, or is told of those it
// will never get (Record.Missed on the next one), and is never told of a
// gap where there is none. Both handles append at once, from several
// goroutines, while one follower is held in its first delivery.
//
// It applies to stores whose Follow delivers from a goroutine of its own:
// a deliver that blocks must not block Append. A store that delivers
// within Append (sockets.NewMemoryHistory) cannot have a follower behind,
// and never sets Missed; the follow tests of TestHistory check that.
func TestHistoryFollowerLag(t *testing.T, stores HistoryStores) {
	h := historySuite{stores: stores}
	// The room keeps everything: however far behind, nothing is missed.
	t.Run("BehindWithinSize", func(t *testing.T) { h.behind(t, 600, 600, true) })
	// The room keeps 3 of 1200: a follower held back misses most (a store
	// that keeps a follower's unread records elsewhere misses none);
	// either way, Missed is set exactly where records were skipped.
	t.Run("BehindPastSize", func(t *testing.T) { h.behind(t, 3, 1200, true) })
}

// TestHistoryFollowerLagNeverSilent is TestHistoryFollowerLag for a store
// that may tell a gap where there was none when its follower is Size
// behind (natsjs without ExactGaps): within the room's Size it must still
// tell none; past it, Missed must be set on every record that came after
// skipped ones, and may be set on others.
func TestHistoryFollowerLagNeverSilent(t *testing.T, stores HistoryStores) {
	h := historySuite{stores: stores}
	t.Run("BehindWithinSize", func(t *testing.T) { h.behind(t, 600, 600, true) })
	t.Run("BehindPastSize", func(t *testing.T) { h.behind(t, 3, 1200, false) })
}

// Behind is what FollowBehind did: for a backend's own test that its
// store does drop what a follower held back has not read, and tells it.
type Behind struct {
	A, B     sockets.HistoryStore // the two handles; the follower held back was a's
	Appended []sockets.Position   // every record appended, oldest first
	Held     []sockets.Record     // what the follower held back delivered
}

// FollowBehind holds a follower of a in its first delivery while both
// handles append total records to one room, from 4 goroutines each, with
// a room of size records; a follower on b is not held. Once every append
// is done, it lets the follower go and waits for it to deliver the newest
// record. It fails the test unless both followers were told of every gap
// where records were skipped, and, if exact, of none where none were.
func FollowBehind(t *testing.T, stores HistoryStores, size, total int, exact bool) Behind {
	t.Helper()
	return historySuite{stores: stores}.behind(t, size, total, exact)
}

func (h historySuite) behind(t *testing.T, size, total int, exact bool) Behind {
	t.Helper()
	const writers = 4 // per handle
	a, b := h.open(t, sockets.HistoryOptions{Size: size})
	release := make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	held := &recorder{}
	stop, err := a.Follow("lag", func(r sockets.Record) {
		<-release
		held.deliver(r)
	})
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	t.Cleanup(stop)
	t.Cleanup(letGo) // first (cleanups run last in, first out): stop waits for the delivery held
	free, _ := followOK(t, b, "lag")

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		appended []sockets.Position
	)
	errs := make(chan error, 2*writers)
	for w := range 2 * writers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := w; i < total; i += 2 * writers {
				id := fmt.Sprint("m", i)
				// Each append bounded on its own: appends to one room may
				// wait for each other, and a loaded machine makes the
				// whole take long.
				ctx, cancel := context.WithTimeout(t.Context(), testkit.Wait)
				p, err := s.Append(ctx, "lag", sockets.TextMessage, []byte(id), id)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("Append %s: %w", id, err)
					return
				}
				mu.Lock()
				appended = append(appended, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	letGo()
	slices.SortFunc(appended, func(x, y sockets.Position) int { return cmpOffset(x.Offset, y.Offset) })
	newest := appended[len(appended)-1]
	for _, r := range []*recorder{held, free} {
		testkit.Eventually(t, "the newest record delivered", func() bool {
			got := r.got()
			return len(got) > 0 && got[len(got)-1].Pos == newest
		})
	}
	checkGaps(t, "the follower held back", held.got(), appended, exact)
	checkGaps(t, "the follower not held", free.got(), appended, exact)
	out := Behind{A: a, B: b, Appended: appended, Held: held.got()}
	gaps := 0
	for _, r := range out.Held {
		if r.Missed {
			gaps++
		}
	}
	t.Logf("Size %d, %d appended: the follower held back got %d, told of %d gaps", size, len(appended), len(out.Held), gaps)
	return out
}

func cmpOffset(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// checkGaps fails unless got, what a follower delivered of appended (all
// appended after Follow returned, sorted), is in order, each record once,
// and has Missed set on every record that came after one or more appended
// records it skipped, and, if exact, on no other.
func checkGaps(t *testing.T, what string, got []sockets.Record, appended []sockets.Position, exact bool) {
	t.Helper()
	index := make(map[sockets.Position]int, len(appended))
	for i, p := range appended {
		index[p] = i
	}
	last := -1
	for k, r := range got {
		i, ok := index[r.Pos]
		if !ok {
			t.Fatalf("%s: record %d, %s, is none of those appended", what, k, formatRecord(r))
		}
		if i <= last {
			t.Fatalf("%s: record %d, %s, out of order or twice", what, k, formatRecord(r))
		}
		if skipped := i - last - 1; skipped > 0 && !r.Missed || exact && r.Missed && skipped == 0 {
			t.Fatalf("%s: record %d, %s, has Missed %v, and %d records were skipped before it", what, k, formatRecord(r), r.Missed, skipped)
		}
		last = i
	}
}
