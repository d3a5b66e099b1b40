//go:build unix

package sockets

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader waits for input on c without holding a buffer, when c offers
// its file descriptor (TCP and Unix sockets on Unix systems); nil otherwise.
func rawReader(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// readWhenReady waits until raw has input, borrowing buf only then, and
// reads into it. It returns the borrowed buffer with what was read, or nil
// with the reason nothing was: the runtime's poller waits meanwhile, and
// the connection's read deadline and Close end the wait.
func readWhenReady(raw syscall.RawConn, borrow func() *[]byte, giveBack func(*[]byte)) (*[]byte, error) {
	var buf *[]byte
	var n int
	var rerr error
	err := raw.Read(func(fd uintptr) bool {
		if buf == nil {
			buf = borrow()
		}
		for {
			n, rerr = syscall.Read(int(fd), (*buf)[:cap(*buf)])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			giveBack(buf) // nothing yet: wait without it
			buf = nil
			return false
		}
		return true
	})
	switch {
	case err == nil && rerr != nil:
		err = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", rerr)}
	case err == nil && n <= 0:
		err = io.EOF
	}
	if err != nil {
		if buf != nil {
			giveBack(buf)
		}
		return nil, err
	}
	*buf = (*buf)[:n]
	return buf, nil
}
