package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"multithreading/internal/proctest"
)

// BenchmarkThroughput puts b.N tasks through JetStream, as a quiet master
// and two batch workers, then through the main program's throughput mode
// (a quiet master, two workers with --jobs 8), in the same run. It reports
// both in tasks/s, from the master's start to its exit, how many times
// faster the main program is ("x-main"), and each master's peak memory
// (the JetStream master's includes its embedded server). Run it with
// -benchtime 1000000x.
func BenchmarkThroughput(b *testing.B) {
	tasks := strconv.Itoa(b.N)
	b.ResetTimer()
	jetStream, jetStreamMiB := timeRun(b, program,
		[]string{"master", "--addr", "127.0.0.1:0", "--store", b.TempDir(), "--quiet", "--tasks", tasks, "--timeout", "1m"},
		embeddedServer,
		func(url string) []string {
			return []string{"worker", "--nats", url, "--batch", "500", "--work", "0", "--tries", "0", "--retry", "5s"}
		})
	b.StopTimer()
	mainProgram, mainMiB := timeRun(b, mainBinary(),
		[]string{"master", "--addr", "127.0.0.1:0", "--quiet", "--tasks", tasks, "--timeout", "1m"},
		regexp.MustCompile(`^master: listening on (127\.0\.0\.1:\d+)$`),
		func(addr string) []string {
			return []string{"worker", "--server", addr, "--work", "0", "--tries", "0", "--jobs", "8", "--quiet"}
		})
	n := float64(b.N)
	b.ReportMetric(n/jetStream.Seconds(), "jetstream-tasks/s")
	b.ReportMetric(n/mainProgram.Seconds(), "main-tasks/s")
	b.ReportMetric(jetStream.Seconds()/mainProgram.Seconds(), "x-main")
	b.ReportMetric(jetStreamMiB, "jetstream-master-MiB")
	b.ReportMetric(mainMiB, "main-master-MiB")
}

// timeRun starts a master with masterArgs, waits for the line where says
// where it listens, starts two workers with the args workerArgs gives for
// that address, and returns how long the master ran and its peak memory.
func timeRun(b *testing.B, binary string, masterArgs []string, where *regexp.Regexp, workerArgs func(addr string) []string) (time.Duration, float64) {
	b.Helper()
	begin := time.Now()
	master := proctest.Start(b, "master", exec.Command(binary, masterArgs...))
	addr := master.Stderr.WaitFor(b, master, where)[1]
	var workers []*proctest.Proc
	for range 2 {
		workers = append(workers, proctest.Start(b, "worker", exec.Command(binary, workerArgs(addr)...)))
	}
	if exit := waitLong(master); exit != 0 {
		b.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	elapsed := time.Since(begin)
	for _, w := range workers {
		waitLong(w)
	}
	m := regexp.MustCompile(`(?m)^master: peak memory ([\d.]+) MiB$`).FindStringSubmatch(master.Stderr.String())
	if m == nil {
		b.Fatalf("the master does not say its peak memory:\n%s", master.Stderr)
	}
	mib, _ := strconv.ParseFloat(m[1], 64)
	return elapsed, mib
}

// waitLong waits for a process of a benchmark, which may run for minutes.
func waitLong(p *proctest.Proc) int {
	select {
	case <-p.Exited:
		return p.Exit
	case <-time.After(10 * time.Minute):
		p.T.Fatalf("%s still running after 10 minutes", p.Name)
		return -1
	}
}

// mainBinary builds the main program, once; "" if it does not build, which
// the benchmark then fails to start.
var mainBinary = sync.OnceValue(func() string {
	binary := filepath.Join(buildDir, "multithreading")
	if err := proctest.Build(filepath.Join("..", ".."), binary); err != nil {
		return ""
	}
	return binary
})
