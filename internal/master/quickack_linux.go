// TCP_QUICKACK, for the master's Python peers (python.go).

package master

import (
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge what conn has received at once, instead
// of delaying the ACK in the hope of sending it with a reply. A peer that
// holds back its next small write until that ACK (Nagle's algorithm, as
// Python's sockets have it) then need not wait some 40 ms.
func quickAck(conn net.Conn) {
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	if raw, err := tcp.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
}
