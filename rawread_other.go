//go:build !unix

package sockets

import (
	"net"
	"syscall"
)

// rawReader returns nil: without Unix's read(2), input is read with a
// blocking Read into a pooled buffer, held while waiting.
func rawReader(net.Conn) syscall.RawConn { return nil }

func (nc *netConn) readWhenReady() (*[]byte, error) {
	panic("unreachable: rawReader returns nil")
}

func (nc *netConn) readFD(uintptr) bool { return true }
