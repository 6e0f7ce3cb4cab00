//go:build !linux

// TCP_QUICKACK is Linux's alone; elsewhere a Python peer may wait for a
// delayed ACK once per connection.

package master

import "net"

func quickAck(net.Conn) {}
