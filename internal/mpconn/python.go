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
// master's challenge (ClassifyChallenge), a master from the worker's answer
// (classifyAnswer). See masterChallenge for the one challenge a Go master
// can deliver to both.
//
// None of these functions sets a deadline: the caller sets one on the
// net.Conn before the handshake, as the master does, and Conn.Call sets
// one for each request.

package mpconn

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
	"net"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/pickle"
)

const (
	pyHandshakeLimit   = 256      // Python's own recv_bytes(256) in the handshake
	MaxMessage         = 64 << 10 // "每个任务的描述数据量要尽量小": no request or reply here is near it
	pyChallengeSize    = 40       // random bytes in a Python 3.12+ challenge, and in ours to a Python master
	pyMD5ChallengeSize = 20       // random bytes in a Python 3.11 challenge
)

// pySHA256Tag names the digest of a Python 3.12+ challenge and answer.
var pySHA256Tag = []byte("{sha256}")

// Protocol is the protocol a peer speaks, as its handshake shows.
type Protocol int

const (
	Go           Protocol = iota + 1 // handshake.go, then net/rpc
	PythonMD5                        // Python up to 3.11: HMAC-MD5
	PythonSHA256                     // Python 3.12 and later: HMAC-SHA256
)

func (p Protocol) String() string {
	switch p {
	case Go:
		return "Go"
	case PythonMD5:
		return "Python 3.11 or older"
	case PythonSHA256:
		return "Python 3.12 or later"
	}
	return "unknown"
}

// IsPython reports whether the peer speaks multiprocessing's protocol.
func (p Protocol) IsPython() bool { return p == PythonMD5 || p == PythonSHA256 }

// ClassifyChallenge tells a worker which protocol its master speaks, from
// the first message the master sends, "#CHALLENGE#" included:
//
//	Python up to 3.11: 20 random bytes
//	Python 3.12+:      {sha256} and 40 random bytes
//	Go:                {sha256} and 32 random bytes (masterChallenge), or
//	                   32 random bytes (handshake.go as it is)
func ClassifyChallenge(message []byte) (Protocol, error) {
	challenge, ok := bytes.CutPrefix(message, challengeTag)
	if !ok {
		return 0, fmt.Errorf("handshake: expected a challenge, got %d bytes of something else", len(message))
	}
	random, modern := bytes.CutPrefix(challenge, pySHA256Tag)
	switch {
	case !modern && len(random) == pyMD5ChallengeSize:
		return PythonMD5, nil
	case modern && len(random) == pyChallengeSize:
		return PythonSHA256, nil
	case len(random) == challengeSize:
		return Go, nil
	}
	return 0, fmt.Errorf("handshake: a challenge of %d bytes is neither Python's nor ours", len(challenge))
}

// classifyAnswer tells a master which protocol its worker speaks, from the
// worker's answer to masterChallenge:
//
//	Python up to 3.11: the raw 16-byte HMAC-MD5
//	Python 3.12+:      {sha256} and the 32-byte HMAC-SHA256
//	Go:                the raw 32-byte HMAC-SHA256 of handshake.go's sign
func classifyAnswer(answer []byte) (Protocol, error) {
	switch {
	case len(answer) == md5.Size:
		return PythonMD5, nil
	case len(answer) == len(pySHA256Tag)+sha256.Size && bytes.HasPrefix(answer, pySHA256Tag):
		return PythonSHA256, nil
	case len(answer) == sha256.Size:
		return Go, nil
	}
	return 0, fmt.Errorf("handshake: an answer of %d bytes is neither Python's nor ours", len(answer))
}

// masterChallenge makes the challenge, after "#CHALLENGE#", that a Go
// master can deliver to a worker of either kind: "{sha256}" and 32 bytes
// from random. Python up to 3.11 answers it with HMAC-MD5 and 3.12+ with
// "{sha256}" and HMAC-SHA256, both over all of it; a Go worker signs all of
// it with handshake.go's sign; and a Go worker tells it from a Python
// master's by its length (ClassifyChallenge).
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
func pyFinishServerHandshake(conn io.ReadWriter, authkey, challenge, answer []byte, admit func(Protocol) error) (Protocol, error) {
	protocol, valid, err := pyCheckAnswer(authkey, challenge, answer)
	if err != nil || !valid {
		WriteMessage(conn, failure) // best effort: the worker learns why we hang up
	}
	if err != nil {
		return protocol, err
	}
	if !valid {
		return protocol, fmt.Errorf("%w: the worker (%v) did not prove it knows the authkey", ErrAuth, protocol)
	}
	if admit != nil {
		if err := admit(protocol); err != nil {
			WriteMessage(conn, failure) // Python's only word for no
			return protocol, err
		}
	}
	if err := WriteMessage(conn, welcome); err != nil {
		return protocol, err
	}
	return protocol, pyAnswerChallenge(conn, authkey, "worker")
}

// PythonClientHandshake is a worker's side of the handshake with a Python
// master: answer its challenge, then deliver one. It reports which Python
// the master is.
func PythonClientHandshake(conn io.ReadWriter, authkey []byte) (Protocol, error) {
	message, err := ReadMessage(conn, pyHandshakeLimit)
	if err != nil {
		return 0, err
	}
	return FinishPythonClientHandshake(conn, authkey, message)
}

// FinishPythonClientHandshake is a worker's side, once it has read the
// master's first message itself and found it is Python's (ClassifyChallenge).
func FinishPythonClientHandshake(conn io.ReadWriter, authkey, message []byte) (Protocol, error) {
	protocol, err := ClassifyChallenge(message)
	if err != nil {
		return 0, err
	}
	if !protocol.IsPython() {
		return protocol, errors.New("handshake: the master speaks Go, not Python")
	}
	if err := pyAnswer(conn, authkey, message[len(challengeTag):], "master"); err != nil {
		return protocol, err
	}
	// A 3.12+ master answers our challenge with HMAC-SHA256; one up to 3.11,
	// with HMAC-MD5, whatever we send.
	challenge := append(bytes.Clone(pySHA256Tag), make([]byte, pyChallengeSize)...)
	rand.Read(challenge[len(pySHA256Tag):])
	if err := WriteMessage(conn, append(bytes.Clone(challengeTag), challenge...)); err != nil {
		return protocol, err
	}
	answer, err := ReadMessage(conn, pyHandshakeLimit)
	if err != nil {
		return protocol, err
	}
	answered, valid, err := pyCheckAnswer(authkey, challenge, answer)
	if err != nil || !valid || answered != protocol {
		WriteMessage(conn, failure)
	}
	switch {
	case err != nil:
		return protocol, err
	case answered != protocol:
		return protocol, fmt.Errorf("handshake: the master challenged as %v but answered as %v", protocol, answered)
	case !valid:
		return protocol, fmt.Errorf("%w: the master did not prove it knows the authkey", ErrAuth)
	}
	return protocol, WriteMessage(conn, welcome)
}

// PythonServerHandshake is a Python 3.12+ master's side of the handshake, as
// multiprocessing.connection's deliver_challenge and answer_challenge do it:
// the tests stand it in for task_master.py's.
func PythonServerHandshake(conn io.ReadWriter, authkey []byte) error {
	challenge := append(bytes.Clone(pySHA256Tag), make([]byte, pyChallengeSize)...)
	rand.Read(challenge[len(pySHA256Tag):])
	if err := WriteMessage(conn, append(bytes.Clone(challengeTag), challenge...)); err != nil {
		return err
	}
	answer, err := ReadMessage(conn, pyHandshakeLimit)
	if err != nil {
		return err
	}
	if _, valid, err := pyCheckAnswer(authkey, challenge, answer); err != nil || !valid {
		WriteMessage(conn, failure)
		return fmt.Errorf("%w: the worker did not prove it knows the authkey", ErrAuth)
	}
	if err := WriteMessage(conn, welcome); err != nil {
		return err
	}
	return pyAnswerChallenge(conn, authkey, "worker")
}

// pyAnswerChallenge reads a Python peer's challenge, answers it and reads
// the verdict.
func pyAnswerChallenge(conn io.ReadWriter, authkey []byte, peer string) error {
	message, err := ReadMessage(conn, pyHandshakeLimit)
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
	if err := WriteMessage(conn, answer); err != nil {
		return err
	}
	verdict, err := ReadMessage(conn, pyHandshakeLimit)
	if err != nil {
		return err
	}
	if !bytes.Equal(verdict, welcome) {
		return fmt.Errorf("%w: the %s rejected our authkey", ErrAuth, peer)
	}
	return nil
}

// pyCheckAnswer checks a peer's answer to challenge: it says which
// Python the peer is, and whether it knows the authkey. It fails if the
// answer is no Python's.
func pyCheckAnswer(authkey, challenge, answer []byte) (protocol Protocol, valid bool, err error) {
	protocol, err = classifyAnswer(answer)
	var want []byte
	switch {
	case err != nil:
		return 0, false, err
	case protocol == PythonMD5:
		want = pyMAC(md5.New, authkey, challenge)
	case protocol == PythonSHA256:
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

// ErrTooLong is a message of a size refused before reading it.
var ErrTooLong = errors.New("message too long")

// ReadMessage reads one message of at most limit bytes.
func ReadMessage(r io.Reader, limit int) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	switch size := int32(binary.BigEndian.Uint32(header[:])); {
	case size == -1:
		return nil, fmt.Errorf("%w: a message of 2 GiB or more (at most %d bytes)", ErrTooLong, limit)
	case size < 0:
		return nil, fmt.Errorf("a message of length %d", size)
	case int64(size) > int64(limit):
		return nil, fmt.Errorf("%w: a message of %d bytes (at most %d)", ErrTooLong, size, limit)
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

// WriteMessage writes one message, length and bytes in one write, as
// Python does: two small writes could each wait for an ACK (Nagle's
// algorithm).
func WriteMessage(w io.Writer, message []byte) error {
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(message)), uint32(len(message)))
	_, err := w.Write(append(frame, message...))
	return err
}

// Conn is an authenticated connection to a Python peer, which exchanges
// pickled values.
type Conn struct {
	NetConn  net.Conn
	MaxReply int // the longest reply it reads
}

// Call sends a request and reads its reply, giving up when timeout passes
// or ctx is done. A call that fails leaves the connection unusable.
func (c *Conn) Call(ctx context.Context, request any, timeout time.Duration) (any, error) {
	message, err := pickle.Encode(request)
	if err != nil {
		return nil, err
	}
	c.NetConn.SetDeadline(time.Now().Add(timeout))
	// On ctx.Done, a deadline in the past wakes the read or write at once.
	stop := context.AfterFunc(ctx, func() { c.NetConn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	reply, err := c.exchange(message)
	if ctx.Err() != nil {
		return nil, cli.Stopped(ctx)
	}
	return reply, err
}

func (c *Conn) exchange(message []byte) (any, error) {
	if err := WriteMessage(c.NetConn, message); err != nil {
		return nil, err
	}
	reply, err := ReadMessage(c.NetConn, c.MaxReply)
	if err != nil {
		return nil, err
	}
	return pickle.Decode(reply)
}

func (c *Conn) Close() error { return c.NetConn.Close() }
