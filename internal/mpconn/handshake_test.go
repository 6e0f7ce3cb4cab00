// Tests of handshake.go, the authkey check.

package mpconn

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"multithreading/internal/proctest"
)

// handshake runs both sides over an in-memory connection.
func handshake(masterKey, workerKey string) (masterErr, workerErr error) {
	master, worker := net.Pipe()
	deadline := time.Now().Add(proctest.Timeout)
	master.SetDeadline(deadline)
	worker.SetDeadline(deadline)
	errs := make(chan error, 1)
	go func() {
		_, err := ServerHandshake(master, []byte(masterKey), rand.Reader, nil)
		errs <- err
		master.Close()
	}()
	workerErr = ClientHandshake(worker, []byte(workerKey), rand.Reader)
	worker.Close()
	return <-errs, workerErr
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		masterKey, workerKey string
		masterErr, workerErr string
	}{
		{"hello world", "hello world", "<nil>", "<nil>"},
		{"hello world", "hello", "authentication failed: the worker did not prove it knows the authkey",
			"authentication failed: the master rejected our authkey"},
		{"", "", "<nil>", "<nil>"}, // HMAC takes an empty key; the command line does not
	} {
		masterErr, workerErr := handshake(tc.masterKey, tc.workerKey)
		if fmt.Sprint(masterErr) != tc.masterErr || fmt.Sprint(workerErr) != tc.workerErr {
			t.Errorf("keys %q and %q: master %q (want %q), worker %q (want %q)",
				tc.masterKey, tc.workerKey, fmt.Sprint(masterErr), tc.masterErr, fmt.Sprint(workerErr), tc.workerErr)
		}
	}
}

// A fake master that lets anyone in but cannot answer the worker's challenge
// is found out by the worker.
func TestHandshakeWorkerChecksMaster(t *testing.T) {
	t.Parallel()
	master, worker := net.Pipe()
	deadline := time.Now().Add(proctest.Timeout)
	master.SetDeadline(deadline)
	worker.SetDeadline(deadline)
	go func() {
		defer master.Close()
		WriteMessage(master, append(bytes.Clone(challengeTag), make([]byte, challengeSize)...))
		ReadHandshake(master) // the worker's answer, unchecked
		WriteMessage(master, welcome)
		ReadHandshake(master) // the worker's challenge
		WriteMessage(master, make([]byte, sha256Size))
		ReadHandshake(master) // the verdict
	}()
	err := ClientHandshake(worker, []byte("hello world"), rand.Reader)
	if want := "authentication failed: the master did not prove it knows the authkey"; fmt.Sprint(err) != want {
		t.Errorf("worker: %q, want %q", fmt.Sprint(err), want)
	}
}

const sha256Size = 32

// countingReader counts what the handshake reads.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// scriptedPeer is a connection whose peer sends fixed bytes and hears nothing.
type scriptedPeer struct {
	*countingReader
	io.Writer
}

func peerSending(b []byte) scriptedPeer {
	return scriptedPeer{&countingReader{r: bytes.NewReader(b)}, io.Discard}
}

// A message claiming 4 GiB is refused after reading its 4-byte header, and a
// peer that stops mid-message is an error, not a hang.
func TestHandshakeBoundsReads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sent []byte
		err  string
		read int
	}{
		{"oversized", []byte{0xff, 0xff, 0xff, 0xff, 'x'}, "handshake: message too long: a message of 2 GiB or more (at most 64 bytes)", 4},
		{"just too long", append([]byte{0, 0, 0, 65}, make([]byte, 65)...), "handshake: message too long: a message of 65 bytes (at most 64)", 4},
		{"truncated header", []byte{0, 0}, "handshake: unexpected EOF", 2},
		{"truncated message", []byte{0, 0, 0, 32, 1, 2, 3}, "handshake: unexpected EOF", 7},
		{"empty", nil, "handshake: EOF", 0},
	} {
		for side, handshake := range map[string]func(io.ReadWriter, []byte, io.Reader) error{
			"master": func(conn io.ReadWriter, key []byte, random io.Reader) error {
				_, err := ServerHandshake(conn, key, random, nil)
				return err
			},
			"worker": ClientHandshake,
		} {
			peer := peerSending(tc.sent)
			err := handshake(peer, []byte("hello world"), rand.Reader)
			if fmt.Sprint(err) != tc.err || peer.read != tc.read {
				t.Errorf("%s, %s side: error %q after reading %d bytes; want %q after %d", tc.name, side, fmt.Sprint(err), peer.read, tc.err, tc.read)
			}
		}
	}
}

// frames joins messages as the handshake sends them.
func frames(messages ...[]byte) []byte {
	var b bytes.Buffer
	for _, m := range messages {
		WriteMessage(&b, m)
	}
	return b.Bytes()
}

// zeroChallenge is a challenge source that the fuzzers can answer: the
// tests inject it, so that a fuzzed peer that signs it right reaches the
// handshake's second step.
func zeroChallenge() io.Reader { return bytes.NewReader(make([]byte, challengeSize)) }

// message returns the i-th message framed in sent, if there is one.
func message(sent []byte, i int) []byte {
	r := bytes.NewReader(sent)
	for ; i > 0; i-- {
		if _, err := ReadHandshake(r); err != nil {
			return nil
		}
	}
	m, _ := ReadHandshake(r)
	return m
}

// The master's side of the handshake lets in only a peer whose first
// message signs the master's challenge with the key, as a Go worker, a
// Python 3.11 or a Python 3.12+ one does; it never panics, and never reads
// more than three messages of at most Python's handshake limit. The seeds,
// which run in every go test, reach the second step, where the worker
// challenges the master.
func FuzzServerHandshake(f *testing.F) {
	key := []byte("hello world")
	challenge := append(bytes.Clone(pySHA256Tag), make([]byte, challengeSize)...) // from zeroChallenge
	answers := [][]byte{
		sign(key, "worker", challenge),
		pyMAC(md5.New, key, challenge),
		append(bytes.Clone(pySHA256Tag), pyMAC(sha256.New, key, challenge)...),
	}
	goChallenge := append(bytes.Clone(challengeTag), make([]byte, challengeSize)...)
	pyChallenge := append(append(bytes.Clone(challengeTag), pySHA256Tag...), make([]byte, pyChallengeSize)...)
	f.Add([]byte{})
	f.Add(frames(make([]byte, sha256Size)))
	for _, answer := range answers {
		f.Add(frames(answer))
		f.Add(frames(answer, goChallenge, welcome))
		f.Add(frames(answer, pyChallenge, welcome))
		f.Add(frames(answer, goChallenge, failure))
		f.Add(frames(answer, challengeTag, welcome))
	}
	f.Add(frames(failure))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 64})
	f.Fuzz(func(t *testing.T, sent []byte) {
		peer := peerSending(sent)
		_, err := ServerHandshake(peer, key, zeroChallenge(), nil)
		if err == nil && !slices.ContainsFunc(answers, func(a []byte) bool { return bytes.Equal(message(sent, 0), a) }) {
			t.Fatalf("authenticated a peer that did not sign the challenge: %x", sent)
		}
		if limit := 3 * (4 + pyHandshakeLimit); peer.read > limit {
			t.Fatalf("read %d bytes, more than three messages of at most %d", peer.read, pyHandshakeLimit)
		}
	})
}

// The worker's side trusts only a master that welcomes it and then signs
// the worker's challenge with the key; it never panics, and never reads more
// than three messages of at most maxHandshake.
func FuzzClientHandshake(f *testing.F) {
	key := []byte("hello world")
	masterChallenge := append(append(bytes.Clone(challengeTag), pySHA256Tag...), make([]byte, challengeSize)...)
	answer := sign(key, "master", make([]byte, challengeSize))
	f.Add([]byte{})
	f.Add(frames(append(bytes.Clone(challengeTag), make([]byte, challengeSize)...), welcome, answer))
	f.Add(frames(masterChallenge))
	f.Add(frames(masterChallenge, welcome))
	f.Add(frames(masterChallenge, welcome, answer))
	f.Add(frames(masterChallenge, welcome, make([]byte, sha256Size)))
	f.Add(frames(masterChallenge, failure))
	f.Add(frames(challengeTag, welcome, answer))
	f.Add([]byte{0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, sent []byte) {
		peer := peerSending(sent)
		err := ClientHandshake(peer, key, zeroChallenge())
		if err == nil && (!bytes.Equal(message(sent, 1), welcome) || !bytes.Equal(message(sent, 2), answer)) {
			t.Fatalf("trusted a master that did not sign the challenge: %x", sent)
		}
		if limit := 3 * (4 + maxHandshake); peer.read > limit {
			t.Fatalf("read %d bytes, more than three messages of at most %d", peer.read, maxHandshake)
		}
	})
}

// BenchmarkHandshake is one loopback connection and its authkey handshake per op.
func BenchmarkHandshake(b *testing.B) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close()
	key := []byte("hello world")
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				ServerHandshake(conn, key, rand.Reader, nil)
			}()
		}
	}()
	for b.Loop() {
		conn, err := net.Dial("tcp", listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if err := ClientHandshake(conn, key, rand.Reader); err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}
