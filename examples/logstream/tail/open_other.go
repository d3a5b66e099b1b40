//go:build !unix

package tail

import (
	"fmt"
	"os"
)

// openRegular opens path for reading and checks that it is a regular file,
// refusing a symbolic link at path itself (see open_unix.go). Without
// O_NOFOLLOW, the file opened is checked to be the one Lstat saw.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("tail: %w", err)
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, errNotRegular(path, lfi.Mode())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("tail: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("tail: %w", err)
	}
	if !os.SameFile(lfi, fi) {
		f.Close()
		return nil, nil, fmt.Errorf("tail: %s was replaced while being opened", path)
	}
	return f, fi, nil
}
