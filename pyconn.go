// The connections of section 分布式进程 as Python's multiprocessing.connection
// makes them, so that a Go worker or master can talk with the tutorial's
// own task_master.py and task_worker.py.
//
// A message is a 4-byte big-endian signed length, then that many bytes.
// Python sends a length of -1, then an 8-byte one, for messages of 2 GiB
// or more: no message here is near that, so it is refused, and so is any
// message over the limit the caller gives, before a byte of it is read.
//
// The handshake is the one handshake.go ports, in Python's own formats:
// the server delivers a challenge and the client answers it, then the
// client challenges the server. Up to 3.11 a challenge is "#CHALLENGE#" and
// 20 random bytes, answered by their raw 16-byte HMAC-MD5 with the authkey.
// From 3.12 it is "#CHALLENGE#{sha256}" and 40 random bytes, answered by
// "{sha256}" and the HMAC-SHA256 of everything after "#CHALLENGE#"; a 3.12
// side recognises a 3.11 one by the length of its challenge or answer.
//
// handshake.go's challenges also start with "#CHALLENGE#", so each side
// tells the other's protocol from the handshake itself: a worker from the
// master's challenge (classifyChallenge), a master from the worker's answer
// (classifyAnswer). See masterChallenge for the one challenge a Go master
// can deliver to both.
//
// None of these functions sets a deadline: the caller sets one on the
// net.Conn before the handshake, as manager.go does, and pyConn.call sets
// one for each request.

package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"multithreading/internal/cli"
	"multithreading/internal/pickle"
	"net"
	"time"
)

const (
	pyHandshakeLimit   = 256      // Python's own recv_bytes(256) in the handshake
	pyMaxMessage       = 64 << 10 // "每个任务的描述数据量要尽量小": no request or reply here is near it
	pyChallengeSize    = 40       // random bytes in a Python 3.12+ challenge, and in ours to a Python master
	pyMD5ChallengeSize = 20       // random bytes in a Python 3.11 challenge
)

// pySHA256Tag names the digest of a Python 3.12+ challenge and answer.
var pySHA256Tag = []byte("{sha256}")

// peerProtocol is the protocol a peer speaks, as its handshake shows.
type peerProtocol int

const (
	peerGo           peerProtocol = iota + 1 // handshake.go, then net/rpc
	peerPythonMD5                            // Python up to 3.11: HMAC-MD5
	peerPythonSHA256                         // Python 3.12 and later: HMAC-SHA256
)

func (p peerProtocol) String() string {
	switch p {
	case peerGo:
		return "Go"
	case peerPythonMD5:
		return "Python 3.11 or older"
	case peerPythonSHA256:
		return "Python 3.12 or later"
	}
	return "unknown"
}

// isPython reports whether the peer speaks multiprocessing's protocol.
func (p peerProtocol) isPython() bool { return p == peerPythonMD5 || p == peerPythonSHA256 }

// classifyChallenge tells a worker which protocol its master speaks, from
// the first message the master sends, "#CHALLENGE#" included:
//
//	Python up to 3.11: 20 random bytes
//	Python 3.12+:      {sha256} and 40 random bytes
//	Go:                {sha256} and 32 random bytes (masterChallenge), or
//	                   32 random bytes (handshake.go as it is)
func classifyChallenge(message []byte) (peerProtocol, error) {
	challenge, ok := bytes.CutPrefix(message, challengeTag)
	if !ok {
		return 0, fmt.Errorf("handshake: expected a challenge, got %d bytes of something else", len(message))
	}
	random, modern := bytes.CutPrefix(challenge, pySHA256Tag)
	switch {
	case !modern && len(random) == pyMD5ChallengeSize:
		return peerPythonMD5, nil
	case modern && len(random) == pyChallengeSize:
		return peerPythonSHA256, nil
	case len(random) == challengeSize:
		return peerGo, nil
	}
	return 0, fmt.Errorf("handshake: a challenge of %d bytes is neither Python's nor ours", len(challenge))
}

// classifyAnswer tells a master which protocol its worker speaks, from the
// worker's answer to masterChallenge:
//
//	Python up to 3.11: the raw 16-byte HMAC-MD5
//	Python 3.12+:      {sha256} and the 32-byte HMAC-SHA256
//	Go:                the raw 32-byte HMAC-SHA256 of handshake.go's sign
func classifyAnswer(answer []byte) (peerProtocol, error) {
	switch {
	case len(answer) == md5.Size:
		return peerPythonMD5, nil
	case len(answer) == len(pySHA256Tag)+sha256.Size && bytes.HasPrefix(answer, pySHA256Tag):
		return peerPythonSHA256, nil
	case len(answer) == sha256.Size:
		return peerGo, nil
	}
	return 0, fmt.Errorf("handshake: an answer of %d bytes is neither Python's nor ours", len(answer))
}

// masterChallenge makes the challenge, after "#CHALLENGE#", that a Go
// master can deliver to a worker of either kind: "{sha256}" and 32 bytes
// from random. Python up to 3.11 answers it with HMAC-MD5 and 3.12+ with
// "{sha256}" and HMAC-SHA256, both over all of it; a Go worker signs all of
// it with handshake.go's sign; and a Go worker tells it from a Python
// master's by its length (classifyChallenge).
func masterChallenge(random io.Reader) ([]byte, error) {
	challenge := append(bytes.Clone(pySHA256Tag), make([]byte, challengeSize)...)
	if _, err := io.ReadFull(random, challenge[len(pySHA256Tag):]); err != nil {
		return nil, fmt.Errorf("handshake: no challenge: %w", err)
	}
	return challenge, nil
}

// pyFinishServerHandshake is the rest of a master's side, once it has read
// the worker's answer to its challenge and found it is Python's
// (classifyAnswer): give the verdict, then answer the worker's challenge.
func pyFinishServerHandshake(conn io.ReadWriter, authkey, challenge, answer []byte) (peerProtocol, error) {
	protocol, valid, err := pyCheckAnswer(authkey, challenge, answer)
	if err != nil || !valid {
		writePyMessage(conn, failure) // best effort: the worker learns why we hang up
	}
	if err != nil {
		return protocol, err
	}
	if !valid {
		return protocol, fmt.Errorf("%w: the worker (%v) did not prove it knows the authkey", errAuth, protocol)
	}
	if err := writePyMessage(conn, welcome); err != nil {
		return protocol, err
	}
	return protocol, pyAnswerChallenge(conn, authkey, "worker")
}

// pyClientHandshake is a worker's side of the handshake with a Python
// master: answer its challenge, then deliver one. It reports which Python
// the master is.
func pyClientHandshake(conn io.ReadWriter, authkey []byte) (peerProtocol, error) {
	message, err := readPyMessage(conn, pyHandshakeLimit)
	if err != nil {
		return 0, err
	}
	return pyFinishClientHandshake(conn, authkey, message)
}

// pyFinishClientHandshake is a worker's side, once it has read the
// master's first message itself and found it is Python's (classifyChallenge).
func pyFinishClientHandshake(conn io.ReadWriter, authkey, message []byte) (peerProtocol, error) {
	protocol, err := classifyChallenge(message)
	if err != nil {
		return 0, err
	}
	if !protocol.isPython() {
		return protocol, errors.New("handshake: the master speaks Go, not Python")
	}
	if err := pyAnswer(conn, authkey, message[len(challengeTag):], "master"); err != nil {
		return protocol, err
	}
	// A 3.12+ master answers our challenge with HMAC-SHA256; one up to 3.11,
	// with HMAC-MD5, whatever we send.
	challenge := append(bytes.Clone(pySHA256Tag), make([]byte, pyChallengeSize)...)
	rand.Read(challenge[len(pySHA256Tag):])
	if err := writePyMessage(conn, append(bytes.Clone(challengeTag), challenge...)); err != nil {
		return protocol, err
	}
	answer, err := readPyMessage(conn, pyHandshakeLimit)
	if err != nil {
		return protocol, err
	}
	answered, valid, err := pyCheckAnswer(authkey, challenge, answer)
	if err != nil || !valid || answered != protocol {
		writePyMessage(conn, failure)
	}
	switch {
	case err != nil:
		return protocol, err
	case answered != protocol:
		return protocol, fmt.Errorf("handshake: the master challenged as %v but answered as %v", protocol, answered)
	case !valid:
		return protocol, fmt.Errorf("%w: the master did not prove it knows the authkey", errAuth)
	}
	return protocol, writePyMessage(conn, welcome)
}

// pyAnswerChallenge reads a Python peer's challenge, answers it and reads
// the verdict.
func pyAnswerChallenge(conn io.ReadWriter, authkey []byte, peer string) error {
	message, err := readPyMessage(conn, pyHandshakeLimit)
	if err != nil {
		return err
	}
	challenge, ok := bytes.CutPrefix(message, challengeTag)
	if !ok {
		return fmt.Errorf("handshake: expected a challenge, got %d bytes of something else", len(message))
	}
	return pyAnswer(conn, authkey, challenge, peer)
}

// pyAnswer answers a challenge, after "#CHALLENGE#", and reads the verdict.
func pyAnswer(conn io.ReadWriter, authkey, challenge []byte, peer string) error {
	var answer []byte
	switch random, modern := bytes.CutPrefix(challenge, pySHA256Tag); {
	case !modern && len(challenge) == pyMD5ChallengeSize:
		answer = pyMAC(md5.New, authkey, challenge)
	case modern && len(random) >= pyMD5ChallengeSize:
		answer = append(bytes.Clone(pySHA256Tag), pyMAC(sha256.New, authkey, challenge)...)
	default:
		return fmt.Errorf("handshake: a challenge of %d bytes is not one Python sends", len(challenge))
	}
	if err := writePyMessage(conn, answer); err != nil {
		return err
	}
	verdict, err := readPyMessage(conn, pyHandshakeLimit)
	if err != nil {
		return err
	}
	if !bytes.Equal(verdict, welcome) {
		return fmt.Errorf("%w: the %s rejected our authkey", errAuth, peer)
	}
	return nil
}

// pyCheckAnswer checks a peer's answer to challenge: it says which
// Python the peer is, and whether it knows the authkey. It fails if the
// answer is no Python's.
func pyCheckAnswer(authkey, challenge, answer []byte) (protocol peerProtocol, valid bool, err error) {
	protocol, err = classifyAnswer(answer)
	var want []byte
	switch {
	case err != nil:
		return 0, false, err
	case protocol == peerPythonMD5:
		want = pyMAC(md5.New, authkey, challenge)
	case protocol == peerPythonSHA256:
		want = append(bytes.Clone(pySHA256Tag), pyMAC(sha256.New, authkey, challenge)...)
	default:
		return protocol, false, fmt.Errorf("handshake: the answer is %v's, not Python's", protocol)
	}
	return protocol, hmac.Equal(answer, want), nil
}

// pyMAC is the HMAC of message with the authkey.
func pyMAC(newHash func() hash.Hash, authkey, message []byte) []byte {
	mac := hmac.New(newHash, authkey)
	mac.Write(message)
	return mac.Sum(nil)
}

// errPyMessage is a message of a size refused before reading it.
var errPyMessage = errors.New("message too long")

// readPyMessage reads one message of at most limit bytes.
func readPyMessage(r io.Reader, limit int) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	switch size := int32(binary.BigEndian.Uint32(header[:])); {
	case size == -1:
		return nil, fmt.Errorf("%w: a message of 2 GiB or more (at most %d bytes)", errPyMessage, limit)
	case size < 0:
		return nil, fmt.Errorf("a message of length %d", size)
	case int64(size) > int64(limit):
		return nil, fmt.Errorf("%w: a message of %d bytes (at most %d)", errPyMessage, size, limit)
	default:
		message := make([]byte, size)
		if _, err := io.ReadFull(r, message); err != nil {
			return nil, noEOF(err)
		}
		return message, nil
	}
}

// noEOF turns an EOF in the middle of a message into an unexpected one.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// writePyMessage writes one message, length and bytes in one write, as
// Python does: two small writes could each wait for an ACK (Nagle's
// algorithm).
func writePyMessage(w io.Writer, message []byte) error {
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(message)), uint32(len(message)))
	_, err := w.Write(append(frame, message...))
	return err
}

// pyConn is an authenticated connection to a Python peer, which exchanges
// pickled values.
type pyConn struct {
	conn       net.Conn
	maxMessage int // the longest reply it reads
}

// call sends a request and reads its reply, giving up when timeout passes
// or ctx is done. A call that fails leaves the connection unusable.
func (c *pyConn) call(ctx context.Context, request any, timeout time.Duration) (any, error) {
	message, err := pickle.Encode(request)
	if err != nil {
		return nil, err
	}
	c.conn.SetDeadline(time.Now().Add(timeout))
	// On ctx.Done, a deadline in the past wakes the read or write at once.
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	reply, err := c.exchange(message)
	if ctx.Err() != nil {
		return nil, cli.Stopped(ctx)
	}
	return reply, err
}

func (c *pyConn) exchange(message []byte) (any, error) {
	if err := writePyMessage(c.conn, message); err != nil {
		return nil, err
	}
	reply, err := readPyMessage(c.conn, c.maxMessage)
	if err != nil {
		return nil, err
	}
	return pickle.Decode(reply)
}

func (c *pyConn) Close() error { return c.conn.Close() }
