// Tests of python.go: Python's framing and handshake for section 分布式进程,
// against the real multiprocessing.connection of each Python, and how
// each side tells Python's protocol from ours.

package mpconn

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/pickle"
	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Challenges as the masters sent them (testdata/python/master.py under
// Python 3.11.7 and 3.12.1, captured on loopback).
const (
	python311Challenge = "234348414c4c454e474523c23e6b574d0beb38506679083955aa2378debed9"
	python312Challenge = "234348414c4c454e4745237b7368613235367d341ed35643ca177644437a47c1ba813751ea8e47f9284c7bc2d4a8406b13898ebc9c706630a13877"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestClassifyChallenge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		message   []byte
		want      Protocol
		wantError string
	}{
		{"Python 3.11", unhex(python311Challenge), PythonMD5, ""},
		{"Python 3.12", unhex(python312Challenge), PythonSHA256, ""},
		{"Go master, shared form", append([]byte("#CHALLENGE#"), aMasterChallenge()...), Go, ""},
		{"Go master, handshake.go", append([]byte("#CHALLENGE#"), make([]byte, 32)...), Go, ""},
		{"not a challenge", []byte("#WELCOME#"), 0, "handshake: expected a challenge, got 9 bytes of something else"},
		{"sha384", append([]byte("#CHALLENGE#{sha384}"), make([]byte, 40)...), 0,
			"handshake: a challenge of 48 bytes is neither Python's nor ours"},
		{"too short", append([]byte("#CHALLENGE#"), make([]byte, 19)...), 0,
			"handshake: a challenge of 19 bytes is neither Python's nor ours"},
	} {
		got, err := ClassifyChallenge(tc.message)
		if got != tc.want || fmt.Sprint(err) != wantText(tc.wantError) {
			t.Errorf("%s: got %v, %v; want %v, %q", tc.name, got, err, tc.want, tc.wantError)
		}
	}
}

func TestClassifyAnswer(t *testing.T) {
	t.Parallel()
	challenge := aMasterChallenge()
	key := []byte("hello world")
	for _, tc := range []struct {
		name      string
		answer    []byte
		want      Protocol
		wantError string
	}{
		{"Python 3.11", pyMAC(md5.New, key, challenge), PythonMD5, ""},
		{"Python 3.12", append([]byte("{sha256}"), pyMAC(sha256.New, key, challenge)...), PythonSHA256, ""},
		{"Go worker", sign(key, "worker", challenge), Go, ""},
		{"sha384", append([]byte("{sha384}"), make([]byte, 48)...), 0, "handshake: an answer of 56 bytes is neither Python's nor ours"},
		{"empty", nil, 0, "handshake: an answer of 0 bytes is neither Python's nor ours"},
		{"40 bytes, no tag", make([]byte, 40), 0, "handshake: an answer of 40 bytes is neither Python's nor ours"},
	} {
		got, err := classifyAnswer(tc.answer)
		if got != tc.want || fmt.Sprint(err) != wantText(tc.wantError) {
			t.Errorf("%s: got %v, %v; want %v, %q", tc.name, got, err, tc.want, tc.wantError)
		}
	}
}

// The Go master against each Python's own Client, and the Go worker
// against each Python's own Listener: the handshake with the right key
// lets both through and tells which Python it is, and pickles then go both
// ways; with a wrong key, both sides say so.
func TestPyHandshakeWithPython(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		want := PythonSHA256
		if py.Minor < 12 {
			want = PythonMD5
		}
		for _, role := range []string{"Go master", "Go worker"} {
			for _, pythonKey := range []string{"hello world", "wrong key"} {
				t.Run(fmt.Sprintf("%s/%s/%s", py, role, pythonKey), func(t *testing.T) {
					t.Parallel()
					if role == "Go master" {
						pyHandshakeAsMaster(t, py, pythonKey, want)
					} else {
						pyHandshakeAsWorker(t, py, pythonKey, want)
					}
				})
			}
		}
	}
}

func pyHandshakeAsMaster(t *testing.T, py pythontest.Python, pythonKey string, want Protocol) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	_, port, _ := net.SplitHostPort(listener.Addr().String())
	worker, _ := pythontest.Start(t, py, "python worker", "peer.py", "client", port, pythonKey)
	conn := accept(t, listener, worker)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(proctest.Timeout))
	got, err := ServerHandshake(conn, []byte("hello world"), rand.Reader, nil)
	if got != want {
		t.Errorf("the master found the worker speaks %v, want %v", got, want)
	}
	if pythonKey != "hello world" {
		wantErr := fmt.Sprintf("authentication failed: the worker (%v) did not prove it knows the authkey", want)
		if !errors.Is(err, ErrAuth) || err.Error() != wantErr {
			t.Errorf("master: %v, want %q", err, wantErr)
		}
		worker.Stdout.WaitFor(t, worker, regexp.MustCompile(`^AuthenticationError: digest sent was rejected$`))
		if exit := worker.Wait(); exit != 1 {
			t.Errorf("worker exited %d, want 1", exit)
		}
		return
	}
	if err != nil {
		t.Fatalf("master: %v\nworker: %s", err, worker.Stdout)
	}
	pyEcho(t, conn, worker)
}

func pyHandshakeAsWorker(t *testing.T, py pythontest.Python, pythonKey string, want Protocol) {
	master, _ := pythontest.Start(t, py, "python master", "peer.py", "listen", pythonKey)
	port := master.Stdout.WaitFor(t, master, regexp.MustCompile(`^listening on (\d+)$`))[1]
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, proctest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(proctest.Timeout))
	got, err := PythonClientHandshake(conn, []byte("hello world"))
	if got != want {
		t.Errorf("the worker found the master speaks %v, want %v", got, want)
	}
	if pythonKey != "hello world" {
		const wantErr = "authentication failed: the master rejected our authkey"
		if !errors.Is(err, ErrAuth) || err.Error() != wantErr {
			t.Errorf("worker: %v, want %q", err, wantErr)
		}
		master.Stdout.WaitFor(t, master, regexp.MustCompile(`^AuthenticationError: digest received was wrong$`))
		if exit := master.Wait(); exit != 1 {
			t.Errorf("master exited %d, want 1", exit)
		}
		return
	}
	if err != nil {
		t.Fatalf("worker: %v\nmaster: %s", err, master.Stdout)
	}
	pyEcho(t, conn, master)
}

// accept takes one connection, or fails if peer exits first.
func accept(t *testing.T, listener net.Listener, peer *proctest.Proc) net.Conn {
	t.Helper()
	go func() {
		select {
		case <-peer.Exited:
		case <-time.After(proctest.Timeout):
		}
		listener.Close() // wakes Accept if nobody came
	}()
	conn, err := listener.Accept()
	if err != nil {
		t.Fatalf("no connection from %s (exit %d): %v\nstdout:\n%s\nstderr:\n%s", peer.Name, peer.Exit, err, peer.Stdout, peer.Stderr)
	}
	return conn
}

// pyEcho sends peer.py the manager's messages, and checks that they come
// back as they went, then says goodbye.
func pyEcho(t *testing.T, conn net.Conn, peer *proctest.Proc) {
	t.Helper()
	peer.Stdout.WaitFor(t, peer, regexp.MustCompile(`^connected$`))
	c := &Conn{NetConn: conn, MaxReply: MaxMessage}
	for _, value := range []any{
		pickle.Tuple{"#RETURN", int64(2201)},
		pickle.Tuple{"#ERROR", pickle.Empty},
		pickle.Tuple{nil, "dummy", pickle.Tuple{}, pickle.Dict{}},
		strings.Repeat("長", 20000), // 60 kB, in one message
	} {
		got, err := c.Call(context.Background(), value, proctest.Timeout)
		if err != nil {
			t.Fatalf("sending %s: %v", pickle.Repr(value), err)
		}
		if diff := cmp.Diff(pickle.Tuple{"echo", value}, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("echo (-want +got):\n%s", diff)
		}
	}
	message, _ := pickle.Encode("bye")
	if err := WriteMessage(conn, message); err != nil {
		t.Fatal(err)
	}
	if exit := peer.Wait(); exit != 0 {
		t.Errorf("%s exited %d: %s", peer.Name, exit, peer.Stderr)
	}
}

// fakePyMaster plays a Python master over an in-memory connection: it
// sends challenge, lets any answer in, then answers the worker's challenge
// with answer(challenge).
func fakePyMaster(challenge []byte, answer func(challenge []byte) []byte) net.Conn {
	master, worker := net.Pipe()
	deadline := time.Now().Add(proctest.Timeout)
	master.SetDeadline(deadline)
	worker.SetDeadline(deadline)
	go func() {
		defer master.Close()
		WriteMessage(master, challenge)
		ReadMessage(master, pyHandshakeLimit)
		WriteMessage(master, welcome)
		theirs, err := ReadMessage(master, pyHandshakeLimit)
		if err != nil {
			return
		}
		WriteMessage(master, answer(bytes.TrimPrefix(theirs, challengeTag)))
		ReadMessage(master, pyHandshakeLimit) // the verdict
	}()
	return worker
}

// A master that lets the worker in but does not know the key is found out,
// and so is one that challenges as Python 3.12 but answers as 3.11.
func TestPyHandshakeWorkerChecksMaster(t *testing.T) {
	t.Parallel()
	key := []byte("hello world")
	for _, tc := range []struct {
		name      string
		challenge string
		answer    func(challenge []byte) []byte
		wantError string
	}{
		{"3.11 master without the key", python311Challenge,
			func(c []byte) []byte { return pyMAC(md5.New, []byte("guess"), c) },
			"authentication failed: the master did not prove it knows the authkey"},
		{"3.12 master without the key", python312Challenge,
			func(c []byte) []byte { return append([]byte("{sha256}"), pyMAC(sha256.New, []byte("guess"), c)...) },
			"authentication failed: the master did not prove it knows the authkey"},
		{"3.12 master answering as 3.11", python312Challenge,
			func(c []byte) []byte { return pyMAC(md5.New, key, c) },
			"handshake: the master challenged as Python 3.12 or later but answered as Python 3.11 or older"},
		{"3.12 master answering as Go", python312Challenge,
			func(c []byte) []byte { return sign(key, "master", c) },
			"handshake: the answer is Go's, not Python's"},
		{"Go master", "234348414c4c454e474523" + hex.EncodeToString(make([]byte, 32)),
			nil, "handshake: the master speaks Go, not Python"},
	} {
		conn := fakePyMaster(unhex(tc.challenge), tc.answer)
		_, err := PythonClientHandshake(conn, key)
		conn.Close()
		if fmt.Sprint(err) != tc.wantError {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantError)
		}
	}
}

// A Python worker from 3.11 and one from 3.12 answer the same challenge in
// their own ways, and the Go master checks each.
func TestPyCheckAnswer(t *testing.T) {
	t.Parallel()
	key := []byte("hello world")
	challenge := aMasterChallenge()
	for _, tc := range []struct {
		name   string
		answer []byte
		want   Protocol
		valid  bool
	}{
		{"3.11, right key", pyMAC(md5.New, key, challenge), PythonMD5, true},
		{"3.11, wrong key", pyMAC(md5.New, []byte("hello"), challenge), PythonMD5, false},
		{"3.12, right key", append([]byte("{sha256}"), pyMAC(sha256.New, key, challenge)...), PythonSHA256, true},
		{"3.12, wrong key", append([]byte("{sha256}"), pyMAC(sha256.New, []byte("hello"), challenge)...), PythonSHA256, false},
		// The tag is signed with the rest: an answer over the random bytes alone is wrong.
		{"3.12, tag unsigned", append([]byte("{sha256}"), pyMAC(sha256.New, key, challenge[8:])...), PythonSHA256, false},
	} {
		got, valid, err := pyCheckAnswer(key, challenge, tc.answer)
		if got != tc.want || valid != tc.valid || err != nil {
			t.Errorf("%s: got %v, %v, %v; want %v, %v", tc.name, got, valid, err, tc.want, tc.valid)
		}
	}
	// HMAC-MD5 as RFC 2202 gives it, to be sure pyMAC is the HMAC Python computes.
	if got := hex.EncodeToString(pyMAC(md5.New, []byte("Jefe"), []byte("what do ya want for nothing?"))); got != "750c783e6ab0b503eaa86e310a5db738" {
		t.Errorf("HMAC-MD5 of RFC 2202's test 2: %s", got)
	}
}

// Framing: a message is read whole, and one too long is refused from its
// length, before a byte of it is read.
func TestReadPyMessage(t *testing.T) {
	t.Parallel()
	header := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	for _, tc := range []struct {
		name    string
		input   []byte
		want    string
		wantErr string
	}{
		{"a message", append(header(5), "hello"...), "hello", "<nil>"},
		{"empty", header(0), "", "<nil>"},
		{"at the limit", append(header(16), make([]byte, 16)...), string(make([]byte, 16)), "<nil>"},
		{"over the limit", header(17), "", "message too long: a message of 17 bytes (at most 16)"},
		{"an 8-byte length", append(header(-1), 0, 0, 0, 0, 0, 0, 0, 5), "", "message too long: a message of 2 GiB or more (at most 16 bytes)"},
		{"negative", header(-2), "", "a message of length -2"},
		{"cut short", append(header(5), "hel"...), "", "unexpected EOF"},
		{"nothing", nil, "", "EOF"},
	} {
		got, err := ReadMessage(bytes.NewReader(tc.input), 16)
		if string(got) != tc.want || fmt.Sprint(err) != tc.wantErr {
			t.Errorf("%s: got %q, %v; want %q, %s", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// writeCounter counts the writes made to it.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// A message goes out in one write, so Nagle's algorithm never holds back
// its second half.
func TestWritePyMessage(t *testing.T) {
	t.Parallel()
	var w writeCounter
	if err := WriteMessage(&w, []byte("#WELCOME#")); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 || w.String() != "\x00\x00\x00\x09#WELCOME#" {
		t.Errorf("%d writes of %q, want 1 of the length and the message", w.writes, w.String())
	}
}

// A call gives up at its timeout, or at once when its context is done.
func TestPyConnCallBounded(t *testing.T) {
	t.Parallel()
	silent := func() (*Conn, chan []byte) {
		ours, theirs := net.Pipe()
		t.Cleanup(func() { ours.Close(); theirs.Close() })
		requests := make(chan []byte, 1)
		go func() {
			request, _ := ReadMessage(theirs, MaxMessage)
			requests <- request // and never answer
		}()
		return &Conn{NetConn: ours, MaxReply: MaxMessage}, requests
	}

	c, _ := silent()
	start := time.Now()
	_, err := c.Call(context.Background(), "hello", 50*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent peer: %v, want a deadline exceeded", err)
	}
	if waited := time.Since(start); waited > proctest.Timeout/2 {
		t.Errorf("a call with a 50ms timeout took %v", waited)
	}

	c, requests := silent()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-requests
		cancel()
	}()
	if _, err := c.Call(ctx, "hello", proctest.Timeout); err != cli.ErrInterrupted {
		t.Errorf("cancelled call: %v, want %v", err, cli.ErrInterrupted)
	}
}

// A reply longer than the limit ends the call before it is read.
func TestPyConnRefusesLongReply(t *testing.T) {
	t.Parallel()
	ours, theirs := net.Pipe()
	defer ours.Close()
	defer theirs.Close()
	go func() {
		ReadMessage(theirs, MaxMessage)
		theirs.Write(binary.BigEndian.AppendUint32(nil, 1<<30))
	}()
	c := &Conn{NetConn: ours, MaxReply: 1 << 10}
	if _, err := c.Call(context.Background(), "hello", proctest.Timeout); !errors.Is(err, ErrTooLong) {
		t.Errorf("got %v, want %v", err, ErrTooLong)
	}
}

// aMasterChallenge is a challenge as the Go master delivers it.
func aMasterChallenge() []byte {
	challenge, err := masterChallenge(rand.Reader)
	if err != nil {
		panic(err)
	}
	return challenge
}

// wantText is the text of an error that is want, or "<nil>" for none.
func wantText(want string) string {
	if want == "" {
		return "<nil>"
	}
	return want
}
