// What a worker of section 分布式进程 written in Python asks of its master:
// testdata/python/worker.py, under each Python, against a stand-in master
// made of packages mpconn and pickle, which records every request. This is the
// protocol a Go master must serve for the tutorial's task_worker.py.

package master

import (
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"multithreading/internal/mpconn"
	"multithreading/internal/pickle"
	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"

	"github.com/google/go-cmp/cmp"
)

// pyRequestLog records the requests a stand-in master receives, each as
// "connection: method args kwds".
type pyRequestLog struct {
	mu        sync.Mutex // guards the fields below
	requests  []string
	protocols []mpconn.Protocol // each connection's, in order
}

func (l *pyRequestLog) add(conn int, request pickle.Tuple) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = append(l.requests, fmt.Sprintf("%d: %s %s %s", conn, pickle.Repr(request[1]), pickle.Repr(request[2]), pickle.Repr(request[3])))
}

// serveLikePython answers a Python worker's requests as BaseManager's
// server does, for a task queue holding tasks and a result queue.
func serveLikePython(t *testing.T, listener net.Listener, authkey string, tasks []int64, recorded *pyRequestLog) {
	const taskQueue, resultQueue = "7f0000000001", "7f0000000002"
	exposed := pickle.Tuple{"empty", "full", "get", "get_nowait", "join", "put", "put_nowait", "qsize", "task_done"}
	var mu sync.Mutex // guards tasks
	for number := 1; ; number++ {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(proctest.Timeout))
			protocol, err := mpconn.ServerHandshake(conn, []byte(authkey), rand.Reader, nil)
			recorded.mu.Lock()
			recorded.protocols = append(recorded.protocols, protocol)
			recorded.mu.Unlock()
			if err != nil {
				return
			}
			for {
				message, err := mpconn.ReadMessage(conn, mpconn.MaxMessage)
				if err != nil {
					return
				}
				value, err := pickle.Decode(message)
				request, ok := value.(pickle.Tuple)
				if err != nil || !ok || len(request) != 4 {
					t.Errorf("connection %d: request %s, %v", number, pickle.Repr(value), err)
					return
				}
				recorded.add(number, request)
				var reply any = pickle.Tuple{"#RETURN", nil}
				switch request[1] {
				case "create":
					id := taskQueue
					if request[2].(pickle.Tuple)[0] == "get_result_queue" {
						id = resultQueue
					}
					reply = pickle.Tuple{"#RETURN", pickle.Tuple{id, exposed}}
				case "get":
					mu.Lock()
					reply = pickle.Tuple{"#ERROR", pickle.Empty}
					if len(tasks) > 0 {
						reply = pickle.Tuple{"#RETURN", tasks[0]}
						tasks = tasks[1:]
					}
					mu.Unlock()
				}
				pickle, _ := pickle.Encode(reply)
				if mpconn.WriteMessage(conn, pickle) != nil {
					return
				}
			}
		}()
	}
}

func TestPythonWorkerRequests(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			listener, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer listener.Close()
			var recorded pyRequestLog
			go serveLikePython(t, listener, "hello world", []int64{2201, 9325}, &recorded)
			_, port, _ := net.SplitHostPort(listener.Addr().String())
			worker, _ := pythontest.Start(t, py, "python worker", "worker.py",
				"--port", port, "--tries", "3", "--timeout", "0.25", "--work", "0")
			if exit := worker.Wait(); exit != 0 {
				t.Fatalf("worker exited %d:\n%s", exit, worker.Stderr)
			}
			want := "Connect to server 127.0.0.1...\n" +
				"run task 2201 * 2201...\n" +
				"run task 9325 * 9325...\n" +
				"task queue is empty.\n" +
				"worker exit.\n"
			if diff := cmp.Diff(want, worker.Stdout.String()); diff != "" {
				t.Errorf("worker (-want +got):\n%s", diff)
			}
			// Every request, on each of its ten connections, in order: the
			// worker waits for each reply before its next request. Only the
			// two decrefs at exit come in an order that varies (3.13 sends
			// the task queue's first).
			wantRequests := []string{
				`1: "dummy" () {}`,
				`2: "create" ("get_task_queue",) {}`,
				`3: "incref" ("7f0000000001",) {}`,
				`4: "decref" ("7f0000000001",) {}`,
				`5: "create" ("get_result_queue",) {}`,
				`6: "incref" ("7f0000000002",) {}`,
				`7: "decref" ("7f0000000002",) {}`,
				`8: "accept_connection" ("MainProcess",) {}`,
				`8: "get" () {"timeout": 0.25}`,
				`8: "put" ("2201 * 2201 = 4844401",) {}`,
				`8: "get" () {"timeout": 0.25}`,
				`8: "put" ("9325 * 9325 = 86955625",) {}`,
				`8: "get" () {"timeout": 0.25}`,
			}
			wantAtExit := []string{`"decref" ("7f0000000001",) {}`, `"decref" ("7f0000000002",) {}`}
			recorded.mu.Lock()
			defer recorded.mu.Unlock()
			got := recorded.requests
			if len(got) != len(wantRequests)+len(wantAtExit) {
				t.Fatalf("%d requests, want %d:\n%s", len(got), len(wantRequests)+len(wantAtExit), strings.Join(got, "\n"))
			}
			if diff := cmp.Diff(wantRequests, got[:len(wantRequests)]); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			var atExit []string
			for i, request := range got[len(wantRequests):] {
				conn, rest, _ := strings.Cut(request, ": ")
				if want := fmt.Sprint(9 + i); conn != want {
					t.Errorf("request %q on connection %s, want %s", rest, conn, want)
				}
				atExit = append(atExit, rest)
			}
			if diff := cmp.Diff(wantAtExit, atExit, proctest.SameLines); diff != "" {
				t.Errorf("requests at exit (-want +got):\n%s", diff)
			}
			wantProtocol := mpconn.PythonSHA256
			if py.Minor < 12 {
				wantProtocol = mpconn.PythonMD5
			}
			for i, p := range recorded.protocols {
				if p != wantProtocol {
					t.Errorf("connection %d: the worker answered as %v, want %v", i+1, p, wantProtocol)
				}
			}
		})
	}
}

// A Python worker with the wrong key fails as Python does, with one
// AuthenticationError, and the stand-in master tells which Python it was.
func TestPythonWorkerWrongKey(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			listener, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer listener.Close()
			var recorded pyRequestLog
			go serveLikePython(t, listener, "hello world", nil, &recorded)
			_, port, _ := net.SplitHostPort(listener.Addr().String())
			worker, _ := pythontest.Start(t, py, "python worker", "worker.py", "--port", port, "--authkey", "hello")
			if exit := worker.Wait(); exit != 1 {
				t.Errorf("worker exited %d, want 1", exit)
			}
			stderr := proctest.Lines(worker.Stderr.String())
			const want = "multiprocessing.context.AuthenticationError: digest sent was rejected"
			if stderr[len(stderr)-1] != want {
				t.Errorf("worker's last line %q, want %q", stderr[len(stderr)-1], want)
			}
			if !strings.HasPrefix(worker.Stderr.String(), "Traceback") {
				t.Errorf("worker's stderr:\n%s", worker.Stderr)
			}
			recorded.mu.Lock()
			defer recorded.mu.Unlock()
			if len(recorded.requests) != 0 || len(recorded.protocols) != 1 || !recorded.protocols[0].IsPython() {
				t.Errorf("the master saw requests %q and protocols %v, want none and one Python", recorded.requests, recorded.protocols)
			}
		})
	}
}
