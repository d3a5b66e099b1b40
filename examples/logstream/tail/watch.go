package tail

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// startWatcher watches the directory of Path, unless polling is forced. On
// any failure the tailer silently polls instead.
func (t *tailer) startWatcher() {
	if t.cfg.UsePolling {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return
	}
	if err := w.Add(filepath.Dir(t.cfg.Path)); err != nil {
		w.Close()
		return
	}
	t.watcher = w
}

// stopWatcher closes the watcher, if any, and waits for its goroutine.
func (t *tailer) stopWatcher() {
	if t.watcher != nil {
		t.watcher.Close()
		t.watcher = nil
	}
}

// run is the tailer's goroutine: it checks the file on every relevant
// notification and every PollInterval, until ctx is done.
func (t *tailer) run(ctx context.Context) {
	defer close(t.out)
	defer t.closeFile()
	defer t.stopWatcher()

	ticker := time.NewTicker(t.cfg.PollInterval)
	defer ticker.Stop()

	if !t.check(ctx) {
		return
	}
	for {
		var events <-chan fsnotify.Event
		var errs <-chan error
		if t.watcher != nil {
			events, errs = t.watcher.Events, t.watcher.Errors
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case ev, ok := <-events:
			if !ok {
				t.stopWatcher()
			} else if !t.relevant(ev) {
				continue
			}
		case err, ok := <-errs:
			// An overflow only means events were lost: the check below
			// catches up. Anything else: fall back to polling.
			if !ok || !errors.Is(err, fsnotify.ErrEventOverflow) {
				t.stopWatcher()
			}
		}
		if !t.check(ctx) {
			return
		}
	}
}

// relevant reports whether ev may concern the followed file. When the
// watched directory itself goes away the watch is useless, so the tailer
// falls back to polling.
func (t *tailer) relevant(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	if name == filepath.Dir(t.cfg.Path) && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
		t.stopWatcher()
		return true
	}
	return filepath.Base(name) == filepath.Base(t.cfg.Path)
}
