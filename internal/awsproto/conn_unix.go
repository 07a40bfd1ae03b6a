//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package awsproto

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed peeks at c's socket without blocking and without taking
// anything from it: a read of 0 bytes is the peer's FIN, ECONNRESET its
// RST. net/http's own pending read on the socket is not disturbed.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	err = raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			closed = n == 0
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ENOTCONN):
			closed = true
		}
	})
	// Control fails once the server has closed the connection itself.
	return closed || err != nil
}
