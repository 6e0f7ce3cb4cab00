// The authkey of section 分布式进程: "如果task_worker.py的authkey和task_master.py的
// authkey不一致，肯定连接不上".
//
// Python's multiprocessing checks the authkey with a challenge-response in
// each direction, so the key itself never crosses the network. This is the
// same scheme with HMAC-SHA256: the master challenges first and answers the
// worker's challenge only once the worker has proven itself, so a peer
// without the key learns nothing from the master. The two directions sign
// different labels, so a worker's answer can never serve as a master's.
//
// The master's challenge is one that Python's workers answer too (pyconn.go
// has their side of it), and the form of the answer tells the master which
// protocol the worker speaks; a worker tells a Python master from a Go one
// by its challenge. Every message is small and length-prefixed, and no
// length field can make either side read more than maxMessage bytes. The
// handshake authenticates; it does not encrypt.

package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	challengeSize = 32 // random bytes in a challenge
	maxMessage    = 64 // no handshake message is longer
)

var (
	challengeTag = []byte("#CHALLENGE#")
	welcome      = []byte("#WELCOME#")
	failure      = []byte("#FAILURE#")
)

// errAuth means the other side does not know the authkey, or thinks we don't.
var errAuth = errors.New("authentication failed")

// serverHandshake is the master's side: deliver a challenge, then answer
// one. It says which protocol the worker speaks. Its challenge comes from
// random: crypto/rand.Reader, but for tests.
func serverHandshake(conn io.ReadWriter, authkey []byte, random io.Reader) (peerProtocol, error) {
	challenge, err := masterChallenge(random)
	if err != nil {
		return 0, err
	}
	if err := writeMessage(conn, append(bytes.Clone(challengeTag), challenge...)); err != nil {
		return 0, err
	}
	answer, err := readMessage(conn)
	if err != nil {
		return 0, err
	}
	protocol, err := classifyAnswer(answer)
	switch {
	case err != nil:
		writeMessage(conn, failure)
		return 0, err
	case protocol.isPython():
		return pyFinishServerHandshake(conn, authkey, challenge, answer)
	case !hmac.Equal(answer, sign(authkey, "worker", challenge)):
		writeMessage(conn, failure) // best effort: the peer learns why we hang up
		return protocol, fmt.Errorf("%w: the worker did not prove it knows the authkey", errAuth)
	}
	if err := writeMessage(conn, welcome); err != nil {
		return protocol, err
	}
	return protocol, answerChallenge(conn, authkey, "master", "worker")
}

// clientHandshake is the worker's side with a Go master: answer a
// challenge, then deliver one.
func clientHandshake(conn io.ReadWriter, authkey []byte, random io.Reader) error {
	message, err := readMessage(conn)
	if err != nil {
		return err
	}
	return finishClientHandshake(conn, authkey, message, random)
}

// finishClientHandshake is the worker's side once it has read the master's
// challenge, message, and found that the master speaks Go (classifyChallenge).
func finishClientHandshake(conn io.ReadWriter, authkey, message []byte, random io.Reader) error {
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
	if err := writeMessage(conn, append(bytes.Clone(challengeTag), challenge...)); err != nil {
		return err
	}
	response, err := readMessage(conn)
	if err != nil {
		return err
	}
	if !hmac.Equal(response, sign(authkey, peer, challenge)) {
		writeMessage(conn, failure) // best effort: the peer learns why we hang up
		return fmt.Errorf("%w: the %s did not prove it knows the authkey", errAuth, peer)
	}
	return writeMessage(conn, welcome)
}

// answerChallenge reads the peer's challenge and answers it.
func answerChallenge(conn io.ReadWriter, authkey []byte, self, peer string) error {
	message, err := readMessage(conn)
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
	if err := writeMessage(conn, sign(authkey, self, challenge)); err != nil {
		return err
	}
	verdict, err := readMessage(conn)
	if err != nil {
		return err
	}
	if !bytes.Equal(verdict, welcome) {
		return fmt.Errorf("%w: the %s rejected our authkey", errAuth, peer)
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

// writeMessage sends a 4-byte big-endian length, then the message.
func writeMessage(w io.Writer, message []byte) error {
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(message)))
	_, err := w.Write(append(frame, message...))
	return err
}

// readMessage reads one message, refusing any longer than maxMessage before
// reading it.
func readMessage(r io.Reader) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	size := binary.BigEndian.Uint32(header[:])
	if size > maxMessage {
		return nil, fmt.Errorf("handshake: a message of %d bytes is too long (at most %d)", size, maxMessage)
	}
	message := make([]byte, size)
	if _, err := io.ReadFull(r, message); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return message, nil
}
