// Admission, for section 分布式进程's master: who may connect, and how the
// master says whom it turned away without drowning its own output.
//
// A peer that has not proven the authkey costs the master a file descriptor
// and a goroutine for up to Config.HandshakeTimeout. At most MaxHandshakes
// such peers wait at once: one more, or an accept that fails for lack of
// file descriptors, closes the oldest of them. A worker proves the key
// within a round trip of its connecting, and the oldest peer in the line
// has proven least: it has had longest to prove it, whatever bytes it has
// sent. (Closing the one that has sent nothing yet, as this once did, let a
// flood of peers that send one byte each lock every worker out: the master
// speaks first, so the newest worker is the one that has not spoken.) A
// flood then churns through a fixed number of descriptors, each flooding
// peer holding one for as long as it takes MaxHandshakes newer ones to
// come, and a worker in the line gets in within moments. What the master
// turned away, and the results it refused, it reports in full once a
// second and sums up for the rest.

package master

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"time"

	"multithreading/internal/logging"
	"multithreading/internal/mpconn"
)

// Why a peer is turned away: once the master is done, or to make room.
const (
	shuttingDown   = "shutting down"
	crowdedOut     = "crowded out"
	tooManyWorkers = "too many workers"
)

// crowdOutEvery paces the closing of handshakes to make room: a full line
// turns over at most once every crowdOutEvery, so a peer let in has
// MaxHandshakes times it (a third of a second) to prove the key before it
// is the oldest, however fast a flood reconnects. The peers that come
// meanwhile wait in the kernel's queue of connections, in order.
const crowdOutEvery = 10 * time.Millisecond

// serve accepts connections until the listener closes.
func (m *QueueManager) serve() {
	defer close(m.served)
	pause := 5 * time.Millisecond
	var lastCrowdOut time.Time // the accept loop's alone
	for {
		conn, err := m.listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, say. The oldest handshake gives up
			// its own, so the next peer in line can be accepted; if none
			// is waiting, wait, as net/http does.
			time.Sleep(time.Until(lastCrowdOut.Add(crowdOutEvery)))
			if m.crowdOut() {
				lastCrowdOut = time.Now()
				continue
			}
			m.turnedAway.Add(fmt.Sprintf("accept: %v", err), logging.Tally{"accept failed": 1})
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 5 * time.Millisecond
		if m.lineIsFull() {
			time.Sleep(time.Until(lastCrowdOut.Add(crowdOutEvery)))
			lastCrowdOut = time.Now() // admit makes room, unless a handshake ended meanwhile
		}
		if peer := m.admit(conn); peer != nil {
			// The handshake runs off the accept loop, so a silent peer
			// holds up no one else.
			m.handlers.Go(func() { m.handle(peer) })
		}
	}
}

// A pendingPeer is a connection still proving the key.
type pendingPeer struct {
	net.Conn
	crowdedOut bool // closed to make room; guarded by the manager's mu
}

// proven hears of a peer that has just proven the key. It leaves the line
// of handshakes, where it could be crowded out: only one round trip, its
// answer's, had to fit in the line. A Go worker is counted among the
// workers, if there is room for it, or told there is none (mpconn.ErrBusy);
// a Python worker, whose handshake knows no such answer, is counted after
// it.
func (m *QueueManager) proven(peer *pendingPeer, protocol mpconn.Protocol) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := slices.Index(m.handshaking, peer); i >= 0 {
		m.handshaking = slices.Delete(m.handshaking, i, i+1)
	}
	if protocol.IsPython() {
		return nil
	}
	if len(m.workers) >= m.cfg.MaxWorkers {
		return mpconn.ErrBusy
	}
	m.workers[peer.Conn] = struct{}{}
	return nil
}

// lineIsFull reports whether as many peers as may are proving the key.
func (m *QueueManager) lineIsFull() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.handshaking) >= m.cfg.MaxHandshakes
}

// admit counts conn among the handshakes in progress, making room if need
// be, or closes it if the master is stopping.
func (m *QueueManager) admit(conn net.Conn) *pendingPeer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		conn.Close()
		return nil
	}
	peer := &pendingPeer{Conn: conn}
	m.handshaking = append(m.handshaking, peer)
	if len(m.handshaking) > m.cfg.MaxHandshakes {
		m.crowdOutLocked()
	}
	return peer
}

// crowdOut closes a handshake in progress, if there is one.
func (m *QueueManager) crowdOut() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crowdOutLocked()
}

// crowdOutLocked closes the oldest handshake. m.mu must be held.
func (m *QueueManager) crowdOutLocked() bool {
	if len(m.handshaking) == 0 {
		return false
	}
	peer := m.handshaking[0]
	m.handshaking = slices.Delete(m.handshaking, 0, 1)
	peer.crowdedOut = true
	peer.Close()
	return true
}

// admitted ends a peer's handshake, whose error was err, and says why it is
// turned away, or "" if it is now a worker. A wrong key is counted by the
// protocol the peer spoke.
func (m *QueueManager) admitted(peer *pendingPeer, protocol mpconn.Protocol, err error) (turnedAwayBecause string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	wasCrowdedOut := peer.crowdedOut
	if i := slices.Index(m.handshaking, peer); i >= 0 {
		m.handshaking = slices.Delete(m.handshaking, i, i+1)
	}
	_, reserved := m.workers[peer.Conn]
	why := m.verdict(peer, wasCrowdedOut, reserved, protocol, err)
	if why != "" {
		delete(m.workers, peer.Conn) // a place reserved for it, if it got that far
	}
	return why
}

// verdict says why a peer whose handshake ended with err is turned away,
// or "" if it is now a worker. m.mu must be held.
func (m *QueueManager) verdict(peer *pendingPeer, wasCrowdedOut, reserved bool, protocol mpconn.Protocol, err error) (turnedAwayBecause string) {
	var timeout net.Error
	switch {
	case m.stopping:
		return shuttingDown
	case wasCrowdedOut:
		return crowdedOut
	case errors.Is(err, mpconn.ErrBusy):
		return tooManyWorkers
	case err == nil && reserved:
		return ""
	case err == nil && len(m.workers) >= m.cfg.MaxWorkers:
		return tooManyWorkers
	case err == nil:
		m.workers[peer.Conn] = struct{}{}
		return ""
	case errors.Is(err, mpconn.ErrAuth):
		return fmt.Sprintf("wrong key, %v", protocol)
	case errors.As(err, &timeout) && timeout.Timeout():
		return "silent"
	case isHangUp(err):
		return "hung up"
	default:
		return "not a worker"
	}
}

// isHangUp reports whether err says that a peer hung up: its connection
// ended, or was reset.
func isHangUp(err error) bool {
	for _, hungUp := range []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, hungUp) {
			return true
		}
	}
	return false
}
