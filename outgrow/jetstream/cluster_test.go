//go:build unix

package main

import (
	"context"
	"time"

	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/google/go-cmp/cmp"

	"multithreading/internal/proctest"
)

// streamLeader returns the index of the node that leads the stream name.
func streamLeader(t *testing.T, urls, name string) int {
	t.Helper()
	nc, err := nats.Connect(urls, nats.Token("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info := stream.CachedInfo()
	if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("%s is not replicated on three nodes: %+v", name, info.Cluster)
	}
	var leader int
	if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &leader); err != nil {
		t.Fatalf("leader %q: %v", info.Cluster.Leader, err)
	}
	return leader - 1
}

// Three servers, as three hosts would run them; the master and the worker
// know all three. One server killed mid-run, the one that leads the result
// stream, costs nothing: the streams have three replicas, the other two
// elect a new leader, and every result comes once, with the master's
// default wait.
func TestClusterSurvivesTheLossOfANode(t *testing.T) {
	t.Parallel()
	var clients, routes []string
	for range 3 {
		clients = append(clients, proctest.FreeAddr(t))
		routes = append(routes, proctest.FreeAddr(t))
	}
	var servers []*proctest.Proc
	for i := range 3 {
		var others []string
		for j := range 3 {
			if j != i {
				others = append(others, routes[j])
			}
		}
		name := fmt.Sprintf("n%d", i+1)
		server := start(t, "server "+name, "server", "--name", name, "--addr", clients[i], "--cluster", routes[i],
			"--routes", strings.Join(others, ","), "--store", t.TempDir())
		server.Stderr.WaitFor(t, server, regexp.MustCompile(`^server `+name+`: NATS with JetStream on nats://`))
		servers = append(servers, server)
	}
	urls := "nats://" + strings.Join(clients, ",nats://")

	master := start(t, "master", "master", "--nats", urls, "--seed", "1", "--lease", "2s")
	worker := start(t, "worker", "worker", "--nats", urls, "--work", "300ms", "--tries", "0", "--retry", "30s")
	master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Result: 7154 \* 7154 = 51179716$`)) // the third
	// The results' leader: the master's feed of results must find the new
	// one, within the tutorial's 10 s wait for a result.
	leader, taskLeader := streamLeader(t, urls, resultStream), streamLeader(t, urls, taskStream)
	servers[leader].Cmd.Process.Signal(syscall.SIGKILL)
	t.Logf("killed n%d, the result stream's leader (the task stream's: n%d)", leader+1, taskLeader+1)

	wantExit(t, master, 0)
	wantExit(t, worker, 0)
	// A redelivery may change the order of the results, never their number.
	if diff := cmp.Diff(proctest.Lines(golden(t, "master.golden")), proctest.Lines(master.Stdout.String()), proctest.SameLines); diff != "" {
		t.Errorf("master's output (-tutorial +got):\n%s", diff)
	}
	t.Logf("master's stderr:\n%s", master.Stderr)
}
