//go:build unix

package tail

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/macaron-contrib/sockets/internal/testkit"
)

// mkfifo makes a FIFO at path, and returns a function that lets a reader
// blocked opening it (or about to) go: it opens the FIFO for writing without
// blocking, through a hard link, so it works after the FIFO was renamed or
// replaced.
func mkfifo(t *testing.T, path string) (release func()) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	keep := path + ".keep"
	if err := os.Link(path, keep); err != nil {
		t.Fatal(err)
	}
	return func() {
		// ENXIO when nobody has it open for reading: nothing to release.
		if f, err := os.OpenFile(keep, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}
}

// TestFIFOAtStart: Follow refuses a FIFO at Path instead of waiting, in
// open(2), for a writer that may never come.
func TestFIFOAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	release := mkfifo(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		ch, err := Follow(ctx, Config{Path: path, Since: -1})
		if err == nil {
			cancel()
			for range ch {
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Follow on a FIFO: %v, want a \"not a regular file\" error", err)
		}
	case <-time.After(testkit.Wait):
		release()
		<-done
		t.Fatalf("Follow blocked for %v opening a FIFO", testkit.Wait)
	}
}

// TestFIFOReplacesFile: a FIFO put at Path while following is ignored like
// a missing file; the tailer keeps reading the file it has, takes the next
// regular file at Path, and stops when asked.
func TestFIFOReplacesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "")
	f := follow(t, Config{Path: path, Since: -1, UsePolling: true, PollInterval: 10 * time.Millisecond})
	old, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.WriteString("one\n"); err != nil {
		t.Fatal(err)
	}
	f.expect("one")

	fifo := filepath.Join(dir, "fifo")
	t.Cleanup(mkfifo(t, fifo)) // runs before follow's cleanup: never a hang
	if err := os.Rename(fifo, path); err != nil {
		t.Fatal(err)
	}
	// A check reads "two" and only then looks at Path: once "two" is
	// here, the tailer has seen the FIFO.
	if _, err := old.WriteString("two\n"); err != nil {
		t.Fatal(err)
	}
	f.expect("two")

	writeFile(t, filepath.Join(dir, "new"), "three\n")
	if err := os.Rename(filepath.Join(dir, "new"), path); err != nil {
		t.Fatal(err)
	}
	if l := f.expect("three")[0]; !l.Rotated || l.Offset != 0 {
		t.Errorf("got %+v, want the new file's first line, Rotated", l)
	}
}

// TestSymlinkReplacesFile: a symbolic link put at Path while following (to
// a file the log's writer should not be able to show) is never followed.
func TestSymlinkReplacesFile(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		dir := t.TempDir()
		secret := filepath.Join(t.TempDir(), "shadow")
		writeFile(t, secret, "root:SECRET\n")
		path := filepath.Join(dir, "app.log")
		writeFile(t, path, "")
		f := follow(t, m.config(path))
		old, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		if _, err := old.WriteString("one\n"); err != nil {
			t.Fatal(err)
		}
		f.expect("one")

		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, path); err != nil {
			t.Fatal(err)
		}
		if !m.poll {
			// The link's creation is an event for the path: nothing may
			// come of it. (Can only pass spuriously, on a slow machine.)
			f.expectNone(100 * time.Millisecond)
		}
		if _, err := old.WriteString("two\n"); err != nil {
			t.Fatal(err)
		}
		if m.poll {
			// As above: once "two" is here, the tailer has seen the link.
			f.expect("two")
		}

		writeFile(t, filepath.Join(dir, "new"), "real\n")
		if err := os.Rename(filepath.Join(dir, "new"), path); err != nil {
			t.Fatal(err)
		}
		if !m.poll {
			f.expect("two") // read when the new file is seen
		}
		if l := f.next(); l.Text != "real" || !l.Rotated {
			t.Errorf("after a link, then a file, at the path: got %+v, want the file's first line", l)
		}
	})
}

// TestSymlinkAtStart: a Path that is a symbolic link when following starts
// is resolved once: the file it names is followed through its rotations,
// and pointing the link elsewhere later changes nothing.
func TestSymlinkAtStart(t *testing.T) {
	forModes(t, func(t *testing.T, m mode) {
		realDir, linkDir := t.TempDir(), t.TempDir()
		real := filepath.Join(realDir, "app.log")
		writeFile(t, real, "")
		link := filepath.Join(linkDir, "app.log")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		f := follow(t, m.config(link))
		appendFile(t, real, "one\n")
		f.expect("one")

		// Rotated where the file really is.
		if err := os.Rename(real, real+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, real, "two\n")
		if l := f.expect("two")[0]; !l.Rotated {
			t.Errorf("got %+v, want Rotated", l)
		}

		// The link pointed elsewhere: still the file it named at start.
		other := filepath.Join(t.TempDir(), "other")
		writeFile(t, other, "other\n")
		tmp := filepath.Join(linkDir, "tmp")
		if err := os.Symlink(other, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, link); err != nil {
			t.Fatal(err)
		}
		f.expectNone(100 * time.Millisecond) // not "other"
		appendFile(t, real, "three\n")
		f.expect("three")
	})
}

// TestDanglingSymlinkAtStart: a link to a file that does not exist is an
// error, not a wait: it would never be followed.
func TestDanglingSymlinkAtStart(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "app.log")
	if err := os.Symlink(filepath.Join(dir, "missing"), link); err != nil {
		t.Fatal(err)
	}
	_, err := Follow(context.Background(), Config{Path: link, Since: -1})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Follow on a dangling link: %v, want an error about the link", err)
	}
}
