//go:build unix

package sockets

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawReader returns the file descriptor access through which the reader
// waits for input without holding a buffer, when c offers one (TCP and
// Unix sockets on Unix systems); nil otherwise.
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

// readWhenReady waits until the connection has input, borrowing a staging
// buffer only then, and reads into it. It returns the buffer with what was
// read, or nil with the reason nothing was: the runtime's poller waits
// meanwhile, and the connection's read deadline and Close end the wait.
func (nc *netConn) readWhenReady() (*[]byte, error) {
	nc.rawN, nc.rawErr = 0, nil
	err := nc.raw.Read(nc.readReady)
	buf := nc.rawBuf
	nc.rawBuf = nil
	switch {
	case err == nil && nc.rawErr != nil:
		err = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", nc.rawErr)}
	case err == nil && nc.rawN <= 0:
		err = io.EOF
	}
	if err != nil {
		if buf != nil {
			giveBackStage(buf)
		}
		return nil, err
	}
	*buf = (*buf)[:nc.rawN]
	return buf, nil
}

// readFD is the read readWhenReady hands the poller: it borrows a buffer
// and reads, and gives the buffer back when there is nothing to read yet.
func (nc *netConn) readFD(fd uintptr) bool {
	if nc.rawBuf == nil {
		nc.rawBuf = borrowStage()
	}
	for {
		nc.rawN, nc.rawErr = syscall.Read(int(fd), (*nc.rawBuf)[:cap(*nc.rawBuf)])
		if nc.rawErr != syscall.EINTR {
			break
		}
	}
	if nc.rawErr == syscall.EAGAIN {
		giveBackStage(nc.rawBuf) // nothing yet: wait without it
		nc.rawBuf = nil
		return false
	}
	return true
}
