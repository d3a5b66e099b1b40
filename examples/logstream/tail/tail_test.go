package tail

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/internal/testkit"
	"go.uber.org/goleak"
)

func TestStartsAtEnd(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "old1\nold2\n")
		f := follow(t, m.config(path))
		appendFile(t, path, "new1\nnew2\n")
		got := f.expect("new1", "new2")
		if got[0].Offset != 10 || got[1].Offset != 15 {
			t.Errorf("offsets %d, %d; want 10, 15", got[0].Offset, got[1].Offset)
		}
		if got[0].Rotated || got[0].Truncated {
			t.Errorf("unexpected flags on %+v", got[0])
		}
	})
}

func TestLineInPieces(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		// An incomplete last line at start is delivered whole once finished.
		writeFile(t, path, "done\npart")
		f := follow(t, m.config(path))
		appendFile(t, path, "ial\nabc")
		if l := f.expect("partial")[0]; l.Offset != 5 {
			t.Errorf("offset %d, want 5", l.Offset)
		}
		f.expectNone(100 * time.Millisecond) // "abc" is not a line yet
		appendFile(t, path, "def")
		f.expectNone(100 * time.Millisecond)
		appendFile(t, path, "\r\n")
		if l := f.expect("abcdef")[0]; l.Offset != 13 {
			t.Errorf("offset %d, want 13", l.Offset)
		}
	})
}

func TestBackfill(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "line%d\n", i)
	}
	tests := []struct {
		name     string
		backfill int
		want     []string
	}{
		{"last3", 3, []string{"line8", "line9", "line10"}},
		{"all", 10, []string{"line1", "line2"}},
		{"more than there are", 50, []string{"line1", "line2"}},
	}
	forModes(t, func(t *testing.T, m mode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "app.log")
				writeFile(t, path, b.String())
				cfg := m.config(path)
				cfg.Backfill = tt.backfill
				f := follow(t, cfg)
				f.expect(tt.want...)
			})
		}
		t.Run("then new lines", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			writeFile(t, path, "a\nb\nc")
			cfg := m.config(path)
			cfg.Backfill = 1
			f := follow(t, cfg)
			f.expect("b")
			appendFile(t, path, "\nd\n")
			f.expect("c", "d")
		})
	})
}

func TestLongLine(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "")
		cfg := m.config(path)
		cfg.MaxLineSize = 10
		f := follow(t, cfg)

		appendFile(t, path, "0123456789\n0123456789ABCDEF\nshort\n")
		got := f.expect("0123456789", "0123456789"+TruncatedMarker, "short")
		if got[0].Truncated || !got[1].Truncated || got[2].Truncated {
			t.Errorf("Truncated flags wrong: %+v", got)
		}
		if got[1].Offset != 11 || got[2].Offset != 28 {
			t.Errorf("offsets %d, %d; want 11, 28", got[1].Offset, got[2].Offset)
		}

		// A long line still being written is cut without waiting for its end,
		// and the rest of it is skipped.
		appendFile(t, path, strings.Repeat("x", 25))
		if l := f.expect(strings.Repeat("x", 10) + TruncatedMarker)[0]; l.Offset != 34 {
			t.Errorf("offset %d, want 34", l.Offset)
		}
		appendFile(t, path, strings.Repeat("y", 30))
		appendFile(t, path, "zz\nnext\n")
		f.expect("next")
	})
}

func TestRenameRotation(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.log")
		writeFile(t, path, "a\n")
		f := follow(t, m.config(path))
		appendFile(t, path, "b\n")
		f.expect("b")

		// logrotate "create": rename away, the writer still has the old file
		// and appends to it, then a new file is created at path.
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path+".1", "c\nunfinished")
		writeFile(t, path, "d\n")
		got := f.expect("c", "unfinished", "d")
		if got[0].Rotated || got[1].Rotated {
			t.Errorf("old file's lines marked Rotated: %+v", got[:2])
		}
		if got[2].Offset != 0 || !got[2].Rotated {
			t.Errorf("first line of new file: %+v, want Offset 0 and Rotated", got[2])
		}
		appendFile(t, path, "e\n")
		if l := f.expect("e")[0]; l.Offset != 2 || l.Rotated {
			t.Errorf("got %+v, want Offset 2, not Rotated", l)
		}
	})
}

func TestCopyTruncate(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "some old content\n")
		f := follow(t, m.config(path))
		appendFile(t, path, "more content here\n")
		f.expect("more content here")

		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, "x\n")
		if l := f.expect("x")[0]; l.Offset != 0 || !l.Rotated {
			t.Errorf("got %+v, want Offset 0 and Rotated", l)
		}
		appendFile(t, path, "y\n")
		f.expect("y")
	})
}

func TestDeleteAndRecreate(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "old\n")
		f := follow(t, m.config(path))
		appendFile(t, path, "before\n")
		f.expect("before")

		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		f.expectNone(50 * time.Millisecond)
		writeFile(t, path, "after1\nafter2\n")
		got := f.expect("after1", "after2")
		if got[0].Offset != 0 || !got[0].Rotated || got[1].Rotated {
			t.Errorf("got %+v, want first at Offset 0 and only it Rotated", got)
		}
	})
}

func TestFileAppearsLater(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		cfg := m.config(path)
		cfg.Backfill = 1 // irrelevant: a new file is read from 0
		f := follow(t, cfg)
		f.expectNone(50 * time.Millisecond)
		writeFile(t, path, "first\nsecond\n")
		got := f.expect("first", "second")
		if got[0].Offset != 0 || got[0].Rotated {
			t.Errorf("got %+v, want Offset 0, not Rotated", got[0])
		}
	})
}

func TestSince(t *testing.T) {
	const content = "a\nbb\nccc\n" // lines at 0, 2, 5; size 9
	tests := []struct {
		since       int64
		want        []string
		wantRotated bool
	}{
		{0, []string{"bb", "ccc"}, false},
		{2, []string{"ccc"}, false},
		{3, []string{"ccc"}, false}, // mid-line: next line start after it
		{5, nil, false},
		{8, nil, false},
		{9, []string{"a", "bb", "ccc"}, true}, // cannot be this file: reread
		{100, []string{"a", "bb", "ccc"}, true},
	}
	forModes(t, func(t *testing.T, m mode) {
		for _, tt := range tests {
			t.Run(fmt.Sprint(tt.since), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "app.log")
				writeFile(t, path, content)
				cfg := m.config(path)
				cfg.Since = tt.since
				cfg.Backfill = 1 // ignored with Since
				f := follow(t, cfg)
				got := f.expect(tt.want...)
				if len(got) > 0 && got[0].Rotated != tt.wantRotated {
					t.Errorf("Rotated = %v, want %v", got[0].Rotated, tt.wantRotated)
				}
				appendFile(t, path, "new\n")
				f.expect("new")
			})
		}
	})
}

// TestWatcherFallback covers fsnotify failing: the directory to watch does
// not exist at first, then it is removed and made again. Polling takes over.
func TestWatcherFallback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "app.log")
	cfg := Config{Path: path, Since: -1, PollInterval: 10 * time.Millisecond}
	f := follow(t, cfg)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "one\n")
	f.expect("one")

	// With a watch that works, removing the directory disables it.
	path2 := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path2, "")
	cfg.Path = path2
	f2 := follow(t, cfg)
	if err := os.RemoveAll(filepath.Dir(path2)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Dir(path2), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path2, "two\n")
	if l := f2.expect("two")[0]; !l.Rotated {
		t.Errorf("got %+v, want Rotated", l)
	}
}

// TestResume follows, stops, and resumes from the last offset seen: every
// line is seen exactly once across the two runs.
func TestResume(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "")

		ctx, cancel := context.WithCancel(context.Background())
		ch, err := Follow(ctx, m.config(path))
		if err != nil {
			t.Fatal(err)
		}
		f := &follower{t: t, ch: ch}
		appendFile(t, path, "one\ntwo\n")
		last := f.expect("one", "two")[1]
		cancel()
		waitClosed(t, ch)

		appendFile(t, path, "three\nfour\n")
		cfg := m.config(path)
		cfg.Since = last.Offset
		f = follow(t, cfg)
		f.expect("three", "four")
		f.expectNone(50 * time.Millisecond)
	})
}

// TestManyLines writes lines in random pieces and checks every one arrives
// exactly once, in order.
func TestManyLines(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "")
		f := follow(t, m.config(path))

		const n = 2000
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("=", i%97))
		}
		data := b.String()
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			rng := rand.New(rand.NewSource(1))
			for len(data) > 0 {
				k := min(len(data), 1+rng.Intn(300))
				if _, err := w.WriteString(data[:k]); err != nil {
					t.Error(err)
					return
				}
				data = data[k:]
			}
		}()
		var off int64
		for i := range n {
			want := fmt.Sprintf("line %d %s", i, strings.Repeat("=", i%97))
			l := f.next()
			if l.Text != want || l.Offset != off {
				t.Fatalf("line %d: got %+v, want %q at %d", i, l, want, off)
			}
			off += int64(len(want)) + 1
		}
		<-done
		f.expectNone(50 * time.Millisecond)
	})
}

// TestNotificationLatency checks that, with notifications, a line arrives
// without waiting for a poll: the safety-net poll is an hour away.
func TestNotificationLatency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, "")
	f := follow(t, modes[0].config(path))
	for i := range 5 {
		start := time.Now()
		appendFile(t, path, fmt.Sprintf("l%d\n", i))
		f.expect(fmt.Sprintf("l%d", i))
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("line took %v to arrive", d)
		}
	}
}

func TestCancelStopsEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	forModes(t, func(t *testing.T, m mode) {
		path := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, path, "a\nb\nc\n")
		ctx, cancel := context.WithCancel(context.Background())
		cfg := m.config(path)
		cfg.Backfill = 3
		ch, err := Follow(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Nobody reads: the tailer blocks on a send, and must still stop.
		for range 200 {
			appendFile(t, path, "more\n")
		}
		cancel()
		waitClosed(t, ch)
	})
	// Also a tailer waiting for a file that never appears.
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Follow(ctx, Config{Path: filepath.Join(t.TempDir(), "nope"), Since: -1})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, ch)
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := []Config{
		{Since: -1},
		{Path: "x", Since: -2},
		{Path: "x", Since: -1, Backfill: -1},
		{Path: "x", Since: -1, MaxLineSize: -1},
		{Path: "x", Since: -1, PollInterval: -time.Second},
		{Path: dir, Since: -1}, // a directory
	}
	for _, cfg := range bad {
		ch, err := Follow(context.Background(), cfg)
		if err == nil || ch != nil {
			t.Errorf("Follow(%+v) = %v, %v; want an error", cfg, ch, err)
		}
	}

	got, err := Config{Path: "a//b", Backfill: 1 << 30}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Path: "a/b", Backfill: MaxBackfill, MaxLineSize: DefaultMaxLineSize, PollInterval: DefaultPollInterval}
	if got != want {
		t.Errorf("normalize = %+v, want %+v", got, want)
	}
}

// BenchmarkLatency measures the time from an append to the line's delivery.
func BenchmarkLatency(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "app.log")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := m.config(path)
			ch, err := Follow(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			for b.Loop() {
				if _, err := w.WriteString("benchmark line\n"); err != nil {
					b.Fatal(err)
				}
				select {
				case <-ch:
				case <-time.After(testkit.Wait):
					b.Fatal("timed out")
				}
			}
		})
	}
}
