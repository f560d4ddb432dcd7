package pivsim

import (
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge the next segment at once. vpcd writes
// a request's length and its payload in two sends, so with Nagle on its
// side and delayed ACKs on ours every APDU would wait ~40 ms for the
// second half; TCP_QUICKACK is not sticky, hence before every read.
func quickAck(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
