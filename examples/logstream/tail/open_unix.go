//go:build unix

package tail

import (
	"fmt"
	"os"
	"syscall"
)

// openRegular opens path for reading and checks that it is a regular file,
// without ever blocking or following a symbolic link at path itself:
//
//   - O_NONBLOCK, because opening a FIFO for reading waits for a writer,
//     which would hang the tailer (and whoever waits for it) for good. Once
//     the file is known to be regular the flag is cleared again.
//   - O_NOFOLLOW, because a link put at Path (say to /etc/shadow) would
//     otherwise be streamed as if it were the log. Follow resolves a link
//     given as Path once, before the first open.
//
// The checks are made on the descriptor opened, so nothing can be swapped
// in between.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, nil, fmt.Errorf("%w: %w", errNotRegular(path, fi.Mode()), err)
		}
		return nil, nil, fmt.Errorf("tail: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("tail: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotRegular(path, fi.Mode())
	}
	// A regular file is not in the runtime poller, so Fd leaves the
	// descriptor as it is and reads go straight to the kernel.
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("tail: clearing O_NONBLOCK on %s: %w", path, err)
	}
	return f, fi, nil
}
