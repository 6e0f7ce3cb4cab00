// Package mpconn is Python's multiprocessing.connection for section
// 分布式进程: length-prefixed messages and the authkey handshake, as Python
// 3.11 and 3.12+ do them, plus the Go dialect that signs each side's role.
//
// This file: the authkey, "如果task_worker.py的authkey和task_master.py的
// authkey不一致，肯定连接不上".
//
// Python's multiprocessing checks the authkey with a challenge-response in
// each direction, so the key itself never crosses the network. This is the
// same scheme with HMAC-SHA256: the master challenges first and answers the
// worker's challenge only once the worker has proven itself, so a peer
// without the key learns nothing from the master. The two directions sign
// different labels, so a worker's answer can never serve as a master's.
//
// The master's challenge is one that Python's workers answer too (python.go
// has their side of it), and the form of the answer tells the master which
// protocol the worker speaks; a worker tells a Python master from a Go one
// by its challenge. Every message is small and length-prefixed, and no
// length field can make either side read more than maxHandshake bytes. The
// handshake authenticates; it does not encrypt.
package mpconn

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

const (
	challengeSize = 32 // random bytes in a challenge
	maxHandshake  = 64 // no message of our handshake is longer
)

var (
	challengeTag = []byte("#CHALLENGE#")
	welcome      = []byte("#WELCOME#")
	failure      = []byte("#FAILURE#")
	busy         = []byte("#BUSY#") // the Go dialect's: the key is right, but there is no room
)

// ErrBusy means that a Go master knows the worker's key but serves as many
// workers as it may: the worker may try again later.
var ErrBusy = errors.New("the master serves as many workers as it may")

// ErrAuth means the other side does not know the authkey, or thinks we don't.
var ErrAuth = errors.New("authentication failed")

// ServerHandshake is the master's side: deliver a challenge, then answer
// one. It says which protocol the worker speaks. Its challenge comes from
// random: crypto/rand.Reader, but for tests. admit, if not nil, hears of a
// worker as soon as it has proven the key, and may turn it away: a Go
// worker then hears that there is no room (ErrBusy), a Python one only no.
func ServerHandshake(conn io.ReadWriter, authkey []byte, random io.Reader, admit func(Protocol) error) (Protocol, error) {
	challenge, err := masterChallenge(random)
	if err != nil {
		return 0, err
	}
	if err := WriteMessage(conn, append(bytes.Clone(challengeTag), challenge...)); err != nil {
		return 0, err
	}
	answer, err := ReadHandshake(conn)
	if err != nil {
		return 0, err
	}
	protocol, err := classifyAnswer(answer)
	switch {
	case err != nil:
		WriteMessage(conn, failure)
		return 0, err
	case protocol.IsPython():
		return pyFinishServerHandshake(conn, authkey, challenge, answer, admit)
	case !hmac.Equal(answer, sign(authkey, "worker", challenge)):
		WriteMessage(conn, failure) // best effort: the peer learns why we hang up
		return protocol, fmt.Errorf("%w: the worker did not prove it knows the authkey", ErrAuth)
	}
	if admit != nil {
		if err := admit(protocol); err != nil {
			WriteMessage(conn, busy) // best effort, as above
			return protocol, err
		}
	}
	if err := WriteMessage(conn, welcome); err != nil {
		return protocol, err
	}
	return protocol, answerChallenge(conn, authkey, "master", "worker")
}

// ClientHandshake is the worker's side with a Go master: answer a
// challenge, then deliver one.
func ClientHandshake(conn io.ReadWriter, authkey []byte, random io.Reader) error {
	message, err := ReadHandshake(conn)
	if err != nil {
		return err
	}
	return FinishClientHandshake(conn, authkey, message, random)
}

// FinishClientHandshake is the worker's side once it has read the master's
// challenge, message, and found that the master speaks Go (ClassifyChallenge).
func FinishClientHandshake(conn io.ReadWriter, authkey, message []byte, random io.Reader) error {
	if err := answer(conn, authkey, "worker", "master", message); err != nil {
		return err
	}
	return deliverChallenge(conn, authkey, "master", random)
}

// deliverChallenge sends fresh random bytes and checks that the peer signs
// them, as peer, with the authkey.
func deliverChallenge(conn io.ReadWriter, authkey []byte, peer string, random io.Reader) error {
	challenge := make([]byte, challengeSize)
	if _, err := io.ReadFull(random, challenge); err != nil {
		return fmt.Errorf("handshake: no challenge: %w", err)
	}
	if err := WriteMessage(conn, append(bytes.Clone(challengeTag), challenge...)); err != nil {
		return err
	}
	response, err := ReadHandshake(conn)
	if err != nil {
		return err
	}
	if !hmac.Equal(response, sign(authkey, peer, challenge)) {
		WriteMessage(conn, failure) // best effort: the peer learns why we hang up
		return fmt.Errorf("%w: the %s did not prove it knows the authkey", ErrAuth, peer)
	}
	return WriteMessage(conn, welcome)
}

// answerChallenge reads the peer's challenge and answers it.
func answerChallenge(conn io.ReadWriter, authkey []byte, self, peer string) error {
	message, err := ReadHandshake(conn)
	if err != nil {
		return err
	}
	return answer(conn, authkey, self, peer, message)
}

// answer signs the peer's challenge, message, as self, and reads the
// verdict. A challenge is 32 random bytes, or a master's, which Python's
// workers answer too, "{sha256}" and 32 random bytes; either is signed whole.
func answer(conn io.ReadWriter, authkey []byte, self, peer string, message []byte) error {
	challenge, ok := bytes.CutPrefix(message, challengeTag)
	if random, _ := bytes.CutPrefix(challenge, pySHA256Tag); !ok || len(random) != challengeSize {
		return fmt.Errorf("handshake: expected a challenge, got %d bytes of something else", len(message))
	}
	if err := WriteMessage(conn, sign(authkey, self, challenge)); err != nil {
		return err
	}
	verdict, err := ReadHandshake(conn)
	if err != nil {
		return err
	}
	switch {
	case bytes.Equal(verdict, busy):
		return ErrBusy
	case !bytes.Equal(verdict, welcome):
		return fmt.Errorf("%w: the %s rejected our authkey", ErrAuth, peer)
	}
	return nil
}

// sign is HMAC-SHA256 over who is signing and the challenge.
func sign(authkey []byte, signer string, challenge []byte) []byte {
	mac := hmac.New(sha256.New, authkey)
	mac.Write([]byte(signer))
	mac.Write(challenge)
	return mac.Sum(nil)
}

// ReadHandshake reads one message of the handshake, refusing any longer
// than maxHandshake before reading it.
func ReadHandshake(r io.Reader) ([]byte, error) {
	message, err := ReadMessage(r, maxHandshake)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return message, nil
}
