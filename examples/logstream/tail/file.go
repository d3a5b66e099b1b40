package tail

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/fsnotify/fsnotify"
)

// readChunk is the size of one read from the file.
const readChunk = 64 << 10

// tailer is the state of one Follow call. After Follow returns, it is owned
// by the run goroutine alone.
type tailer struct {
	cfg     Config
	out     chan Line
	watcher *fsnotify.Watcher // nil when polling only

	f       *os.File    // the generation being read; nil while Path is missing
	fi      os.FileInfo // identity of f
	sp      splitter
	rotated bool // mark the next Line delivered as Rotated
	buf     []byte
}

func newTailer(cfg Config) *tailer {
	return &tailer{
		cfg: cfg,
		out: make(chan Line, 64),
		sp:  splitter{max: cfg.MaxLineSize},
		buf: make([]byte, readChunk),
	}
}

// openInitial opens Path, if it exists, and picks the starting offset from
// Since or Backfill.
func (t *tailer) openInitial() error {
	f, fi, err := openRegular(t.cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // wait for it; it is read from 0 when it appears
	}
	if err != nil {
		return err
	}
	size := fi.Size()
	var start int64
	skip := false
	switch {
	case t.cfg.Since >= 0 && t.cfg.Since < size:
		start, skip = t.cfg.Since, true
	case t.cfg.Since >= 0:
		start, t.rotated = 0, true
	default:
		// The last Backfill complete lines, plus any incomplete last line so
		// that it is delivered whole once it is finished.
		start, err = startOfLastLines(f, size, t.cfg.Backfill+1)
		if err != nil {
			f.Close()
			return err
		}
	}
	t.f, t.fi = f, fi
	t.sp.reset(start, skip)
	return nil
}

// errNotRegular reports that what is at path is not a regular file: a
// directory, a FIFO, a device, or a symbolic link once following started.
func errNotRegular(path string, mode fs.FileMode) error {
	if mode&fs.ModeSymlink != 0 {
		return fmt.Errorf("tail: %s is a symbolic link: not followed (a link is resolved only when Follow starts)", path)
	}
	return fmt.Errorf("tail: %s is not a regular file (mode %v)", path, mode)
}

// startOfLastLines returns the offset just after the k-th "\n" counted back
// from the end of the first size bytes of f, or 0 if there are fewer.
func startOfLastLines(f *os.File, size int64, k int) (int64, error) {
	buf := make([]byte, readChunk)
	pos := size
	for pos > 0 {
		n := int(min(int64(len(buf)), pos))
		pos -= int64(n)
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return 0, fmt.Errorf("tail: scanning %s back for backfill: %w", f.Name(), err)
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				k--
				if k == 0 {
					return pos + int64(i) + 1, nil
				}
			}
		}
	}
	return 0, nil
}

// check reads whatever is new and handles rotation, truncation and
// re-creation. It returns false when ctx is done.
func (t *tailer) check(ctx context.Context) bool {
	if t.f == nil {
		return t.openNext(ctx)
	}
	if !t.drain(ctx) {
		return false
	}
	// Lstat: a symbolic link put at Path is not the file, nor a new one.
	fi, err := os.Lstat(t.cfg.Path)
	switch {
	case err != nil || !fi.Mode().IsRegular():
		// Renamed away or deleted, or replaced by something that is not
		// followed (a symbolic link, a FIFO, a directory): keep reading the
		// open file (a writer may still append to it) until a regular file
		// shows up at Path.
		return true
	case !os.SameFile(fi, t.fi):
		// A new file at Path. Finish the old one, then switch.
		if !t.drain(ctx) || !t.endGeneration(ctx) {
			return false
		}
		return t.openNext(ctx)
	case fi.Size() < t.sp.pos:
		// Truncated in place (copytruncate): read again from the start.
		if !t.endGeneration(ctx) {
			return false
		}
		t.sp.reset(0, false)
		t.rotated = true
		return t.drain(ctx)
	}
	return true
}

// openNext opens the file now at Path, if any, and reads it from 0.
func (t *tailer) openNext(ctx context.Context) bool {
	f, fi, err := openRegular(t.cfg.Path)
	if err != nil {
		// Not there, not readable, or not a regular file (yet): like a
		// missing file, try again at the next check.
		return true
	}
	if t.f != nil { // replacing a previous generation
		t.f.Close()
		t.rotated = true
	}
	t.f, t.fi = f, fi
	t.sp.reset(0, false)
	return t.drain(ctx)
}

// endGeneration delivers the incomplete last line of the current
// generation, which can no longer be completed.
func (t *tailer) endGeneration(ctx context.Context) bool {
	if l, ok := t.sp.flush(); ok {
		return t.emit(ctx, l)
	}
	return true
}

// drain reads the open file from the current offset to its end.
func (t *tailer) drain(ctx context.Context) bool {
	emit := func(l Line) bool { return t.emit(ctx, l) }
	for {
		n, err := t.f.ReadAt(t.buf, t.sp.pos)
		if n > 0 && !t.sp.feed(t.buf[:n], emit) {
			return false
		}
		if err != nil || n == 0 {
			// io.EOF is the normal end; other errors are retried at the
			// next check.
			return ctx.Err() == nil
		}
	}
}

// emit sends l, unless ctx is done first.
func (t *tailer) emit(ctx context.Context, l Line) bool {
	if t.rotated {
		l.Rotated = true
	}
	select {
	case t.out <- l:
		t.rotated = false
		return true
	case <-ctx.Done():
		return false
	}
}

// closeFile releases the open file, if any.
func (t *tailer) closeFile() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}
