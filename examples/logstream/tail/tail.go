// Package tail follows one file like `tail -F`, delivering complete lines.
//
// Follow watches the file's directory with fsnotify (so renames and
// re-creations are seen) and also stats the file every PollInterval as a
// safety net; when a watcher cannot be created, or fails, it falls back to
// polling alone. It survives the usual ways logs are rotated:
//
//   - rename ("create" in logrotate): the file is renamed away and a new one
//     is created at Path. The old file is read to its end once the new file
//     is seen, then the new file is followed from offset 0.
//   - copytruncate: the file shrinks below the current read offset, and is
//     read again from offset 0.
//   - deletion and re-creation: the new file is followed from offset 0.
//
// Only regular files are read. A symbolic link given as the path is
// resolved once, when Follow starts; a link or a FIFO that replaces the
// file later is ignored like a missing file (a link to /etc/shadow put in
// a writable log directory is not streamed, and a FIFO cannot block the
// tailer), until a regular file is back.
//
// Offsets are byte offsets within one generation of the file; after a
// rotation they start again at 0.
//
// An incomplete last line (no "\n" yet) is held back until it is finished.
// When its generation ends (rotation, truncation, re-creation) it can no
// longer be finished and is delivered as it is. Known limits, shared with
// `tail -F`: lines a writer appends to a renamed-away file after the switch
// to the new file are not read, and a truncation is missed if the file grows
// back past the read offset before it is checked.
package tail

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Defaults and limits applied to Config.
const (
	// DefaultMaxLineSize is the MaxLineSize used when Config.MaxLineSize is 0.
	DefaultMaxLineSize = 1 << 20
	// DefaultPollInterval is the PollInterval used when Config.PollInterval is 0.
	DefaultPollInterval = 250 * time.Millisecond
	// MaxBackfill is the largest Backfill honoured; larger values are clamped.
	MaxBackfill = 10000
	// TruncatedMarker is appended to the Text of a line that was cut because
	// it was longer than MaxLineSize.
	TruncatedMarker = " …[truncated]"
)

// Line is one complete line read from the file.
type Line struct {
	// Offset is the byte offset of the line's first byte in the file
	// (generation) it came from.
	Offset int64
	// Text is the line without its trailing "\n" and without a trailing "\r".
	// A truncated line ends with TruncatedMarker.
	Text string
	// Truncated reports that the line was longer than MaxLineSize and was
	// cut; the rest of it, up to its newline, was skipped.
	Truncated bool
	// Rotated is set on the first line delivered after a rotation,
	// truncation or re-creation of the file was detected (and on the first
	// line when Since did not fit the file, see Config.Since).
	Rotated bool
}

// Config says what to follow and how.
type Config struct {
	// Path is the file to follow. It need not exist yet: Follow waits for it
	// and then reads it from offset 0.
	//
	// If Path is a symbolic link when Follow is called (or has one among
	// its directories), it is resolved then, once, and the file it names
	// is followed, rotations included. A symbolic link that appears at the
	// followed path later is never followed: it is treated like a missing
	// file. So is anything else that is not a regular file, such as a FIFO
	// (which is never opened in a way that could block).
	Path string

	// Backfill is the number of complete lines already in the file that are
	// sent first; 0 sends none, like `tail -f -n 0`. It is clamped to
	// MaxBackfill. Ignored when Since >= 0.
	Backfill int

	// Since resumes after a line that a client already has. When Since >= 0
	// the first line sent is the first line whose Offset is greater than
	// Since, i.e. the line beginning just after the first "\n" at or after
	// byte Since; every line after it follows, whether already in the file
	// or written later. A client that last saw a line at offset X passes
	// Since = X and gets no duplicate. If Since is not smaller than the
	// file's current size, the line at Since cannot be in this file, so the
	// file is taken to have been rotated or truncated: it is read from
	// offset 0 and the first line has Rotated set. Since applies to the file
	// present when Follow is called; a file that does not exist yet is read
	// from 0.
	//
	// Set Since to -1 when not resuming: the zero value 0 means "resume after
	// the line at offset 0". Values below -1 are an error.
	Since int64

	// MaxLineSize is the longest Text delivered, in bytes (0 means
	// DefaultMaxLineSize). A longer line is cut at a UTF-8 boundary,
	// TruncatedMarker is appended and Truncated is set; the remainder of
	// that line is skipped up to its newline.
	MaxLineSize int

	// PollInterval is how often the file is checked without a notification
	// (0 means DefaultPollInterval). With fsnotify it is the period of the
	// safety-net check; with polling it bounds the latency.
	PollInterval time.Duration

	// UsePolling disables fsnotify and only polls.
	UsePolling bool
}

// normalize checks cfg and fills in defaults.
func (cfg Config) normalize() (Config, error) {
	if cfg.Path == "" {
		return cfg, errors.New("tail: empty Path")
	}
	if cfg.Backfill < 0 {
		return cfg, fmt.Errorf("tail: negative Backfill %d", cfg.Backfill)
	}
	if cfg.Since < -1 {
		return cfg, fmt.Errorf("tail: Since %d is below -1", cfg.Since)
	}
	if cfg.MaxLineSize < 0 {
		return cfg, fmt.Errorf("tail: negative MaxLineSize %d", cfg.MaxLineSize)
	}
	if cfg.PollInterval < 0 {
		return cfg, fmt.Errorf("tail: negative PollInterval %v", cfg.PollInterval)
	}
	cfg.Path = filepath.Clean(cfg.Path)
	cfg.Backfill = min(cfg.Backfill, MaxBackfill)
	if cfg.MaxLineSize == 0 {
		cfg.MaxLineSize = DefaultMaxLineSize
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	return cfg, nil
}

// Follow starts following cfg.Path. The starting point is fixed before
// Follow returns, so any line completed after that is delivered. Lines
// arrive on the returned channel, in order and each once, until ctx is done;
// then the channel is closed, after every goroutine Follow started has
// exited. A slow reader slows the tailer down; nothing is dropped.
//
// Follow fails only for an invalid Config or when Path exists but cannot be
// opened as a regular file (a directory, a FIFO, a link to a missing file).
func Follow(ctx context.Context, cfg Config) (<-chan Line, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	cfg.Path = resolveLinks(cfg.Path)
	t := newTailer(cfg)
	// Watch before the first open so a file created in between is not missed.
	t.startWatcher()
	if err := t.openInitial(); err != nil {
		t.stopWatcher()
		return nil, err
	}
	go t.run(ctx)
	return t.out, nil
}

// resolveLinks returns path with its symbolic links resolved, or, when it
// does not exist (yet), with those of its directory resolved; or path as
// it is when neither can be.
func resolveLinks(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		return p
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		return filepath.Join(dir, filepath.Base(path))
	}
	return path
}
