// TestMain builds the program once; the helpers here run it in process or as
// a separate process and read what it prints. TestUsage covers main.go.

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"multithreading/internal/cli"
	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

// program is the binary built once, without -race, for the tests that run
// it as a separate process; buildDir holds it and the -race build.
var program, buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "multithreading-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	program = filepath.Join(dir, "multithreading")
	if err := proctest.Build(".", program); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runInProcess calls run as main does and returns what it printed.
func runInProcess(t *testing.T, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), cli.ExitCode(err)
}

// runBinary runs a built binary to its end, at most a minute.
func runBinary(t *testing.T, bin string, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	return runBinaryWithin(t, time.Minute, bin, args...)
}

// runBinaryWithin runs a built binary to its end, and fails the test if it
// is still running after limit.
func runBinaryWithin(t *testing.T, limit time.Duration, bin string, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v still running after %v\nstdout:\n%s\nstderr:\n%s", bin, args, limit, out.String(), errOut.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s %v: %v", bin, args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// assertBefore checks that line first comes before line second in got.
func assertBefore(t *testing.T, got []string, first, second string) {
	t.Helper()
	i, j := slices.Index(got, first), slices.Index(got, second)
	if i < 0 || j < 0 || i > j {
		t.Errorf("want %q before %q in:\n%s", first, second, strings.Join(got, "\n"))
	}
}

// Mistakes on the command line: one line saying what is wrong, with a hint
// when the value's form is wrong, then the usage, all on stderr; exit 2.
// Asking for help: the usage on stdout, exit 0.
func TestUsage(t *testing.T) {
	t.Parallel()
	const topUsage = "usage: go run . <command> [flags]"
	for _, tc := range []struct {
		args      []string
		exit      int
		firstLine string
	}{
		{nil, 2, topUsage},
		{[]string{"-h"}, 0, topUsage},
		{[]string{"--help"}, 0, topUsage},
		{[]string{"help"}, 0, topUsage},
		{[]string{"help", "help"}, 0, topUsage},
		{[]string{"help", "loop"}, 0, "usage: go run . loop [flags]"},
		{[]string{"help", "fork"}, 2, `help: unknown command "fork"`},
		{[]string{"help", "loop", "bank"}, 2, `help: unexpected argument "bank"`},
		{[]string{"fork"}, 2, `unknown command "fork"`},
		{[]string{"loop", "-h"}, 0, "usage: go run . loop [flags]"},
		{[]string{"loop", "--help"}, 0, "usage: go run . loop [flags]"},
		{[]string{"loop", "--ticks", "1s"}, 2, "loop: unknown flag --ticks; known: --tick, --trace"},
		{[]string{"loop", "--tick"}, 2, "loop: --tick needs a value, as in --tick 1s"},
		{[]string{"loop", "--tick", "1"}, 2, `loop: invalid value "1" for --tick: a duration needs a unit, as in 1s or 100ms`},
		{[]string{"loop", "-tick=1.5"}, 2, `loop: invalid value "1.5" for --tick: a duration needs a unit, as in 1s or 100ms`},
		{[]string{"loop", "---tick"}, 2, "loop: bad flag syntax: ---tick"},
		{[]string{"loop", "now"}, 2, `loop: unexpected argument "now"`},
		{[]string{"loop", "--tick", "-1s"}, 2, "loop: --tick must not be negative, not -1s"},
		{[]string{"download", "--second", "0"}, 2, "download: --second must be positive, not 0s"},
		{[]string{"download", "--seed", "-1"}, 2, `download: invalid value "-1" for --seed: want a whole number, 0 or more`},
		{[]string{"download", "--task", "true"}, 2, "download: write --task=true, not --task true: a boolean flag takes its value after ="},
		{[]string{"bank", "--depositors", "many"}, 2, `bank: invalid value "many" for --depositors: want a whole number, as in 100`},
		{[]string{"bank", "--depositors", "99999999999999999999"}, 2, `bank: invalid value "99999999999999999999" for --depositors: value out of range`},
		{[]string{"bank", "--depositors", "0"}, 2, "bank: --depositors must be positive, not 0"},
		{[]string{"bank", "--lock", "false"}, 2, "bank: write --lock=false, not --lock false: a boolean flag takes its value after ="},
		{[]string{"bank", "-lock", "False"}, 2, "bank: write --lock=False, not --lock False: a boolean flag takes its value after ="},
		{[]string{"bank", "--lock", "maybe"}, 2, `bank: unexpected argument "maybe"`},
		{[]string{"bank", "--lock=no"}, 2, `bank: invalid value "no" for --lock: want true or false, written --lock=false`},
		{[]string{"bank", "--chan", "--lock=false"}, 2, "bank: --chan needs no lock: leave out --lock=false"},
		{[]string{"spin", "--gomaxprocs", "-1"}, 2, "spin: --gomaxprocs must not be negative, not -1"},
		{[]string{"tasks", "--kind", "gpu"}, 2, `tasks: --kind must be io or cpu, not "gpu"`},
		{[]string{"master", "--addr", "5000"}, 2, `master: --addr "5000": want host:port, as in 127.0.0.1:5000 or [::1]:5000`},
		{[]string{"master", "--addr", "::1:5000"}, 2, `master: --addr "::1:5000": an IPv6 address goes in brackets: [::1]:5000`},
		{[]string{"master", "--addr", "::1"}, 2, `master: --addr "::1": want host:port, as in 127.0.0.1:5000 or [::1]:5000`},
		{[]string{"worker", "--server", "fe80::1%eth0:5000"}, 2, `worker: --server "fe80::1%eth0:5000": an IPv6 address goes in brackets: [fe80::1%eth0]:5000`},
		{[]string{"master", "--tasks", "0"}, 2, "master: --tasks must be positive, not 0"},
		{[]string{"master", "--tasks", "20000000"}, 2, "master: --tasks must be at most 10000000, not 20000000"},
		{[]string{"worker", "--jobs", "0"}, 2, "worker: --jobs must be positive, not 0"},
		{[]string{"worker", "--get-timeout", "2m"}, 2, "worker: --get-timeout must be at most 1m0s, not 2m0s"},
	} {
		stdout, stderr, exit := runInProcess(t, tc.args...)
		// The usage that follows the line: the command's, if the mistake is in one.
		wantUsage := topUsage
		if len(tc.args) > 0 && tc.args[0] != "help" && slices.ContainsFunc(commands, func(c command) bool { return c.name == tc.args[0] }) {
			wantUsage = "usage: go run . " + tc.args[0] + " [flags]"
		}
		out, quiet, name := stderr, stdout, "stdout"
		if tc.exit == 0 {
			out, quiet, name = stdout, stderr, "stderr"
		}
		got := proctest.Lines(out)
		if exit != tc.exit || quiet != "" || got[0] != tc.firstLine {
			t.Errorf("%v: exit %d (want %d), %s %q, first line %q (want %q)",
				tc.args, exit, tc.exit, name, quiet, got[0], tc.firstLine)
			continue
		}
		if tc.exit != 0 && tc.firstLine != wantUsage && (len(got) < 2 || got[1] != wantUsage) {
			t.Errorf("%v: want one line, then %q; got:\n%s", tc.args, wantUsage, out)
		}
	}
	// The real binary turns run's error into the same exit code.
	for _, tc := range []struct {
		args []string
		exit int
	}{
		{[]string{"fork"}, 2},
		{[]string{"help", "fork"}, 2},
		{[]string{"help"}, 0},
		{[]string{"help", "bank"}, 0},
		{[]string{"bank", "--lock", "false"}, 2},
	} {
		if _, _, exit := runBinary(t, program, tc.args...); exit != tc.exit {
			t.Errorf("binary %v: exit %d, want %d", tc.args, exit, tc.exit)
		}
	}
}

// go run . help: every command, in Chinese then in English, under the
// tutorial's heading as the tutorial writes it.
func TestHelp(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runInProcess(t, "help")
	if exit != 0 || stderr != "" {
		t.Fatalf("help: exit %d, stderr %q", exit, stderr)
	}
	got := proctest.Lines(stdout)
	if diff := cmp.Diff([]string{"usage: go run . <command> [flags]", "       go run . help <command>"}, got[:2]); diff != "" {
		t.Errorf("help's first lines (-want +got):\n%s", diff)
	}
	if want := "命令的参数 / a command's flags: go run . help <command>, or go run . <command> -h"; got[len(got)-1] != want {
		t.Errorf("help's last line %q, want %q", got[len(got)-1], want)
	}
	for _, c := range commands {
		zh, en, ok := strings.Cut(c.summary, "\n")
		if !ok || !hasHan(zh) || hasHan(en) {
			t.Errorf("%s: summary %q is not a line in Chinese, then one in English", c.name, c.summary)
		}
		row := fmt.Sprintf("  %-9s %s：%s", c.name, c.section, zh)
		i := slices.Index(got, row)
		if i < 0 || i+1 == len(got) || got[i+1] != "            "+en {
			t.Errorf("help has no row %q followed by %q:\n%s", row, en, stdout)
		}
	}
	bank := "  bank      线程之间的通信, LCOK：" // the tutorial's heading, sic
	if !slices.ContainsFunc(got, func(line string) bool { return strings.HasPrefix(line, bank) }) {
		t.Errorf("help has no line starting %q:\n%s", bank, stdout)
	}
	if _, stderr, _ := runInProcess(t); stderr != stdout {
		t.Errorf("the usage on a mistake differs from help's (-want +got):\n%s", cmp.Diff(stdout, stderr))
	}
}

// go run . help CMD is go run . CMD -h: the command's summary, its tutorial
// section and its flags, spelled --flag as the README spells them.
func TestHelpCommand(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		stdout, stderr, exit := runInProcess(t, "help", c.name)
		if exit != 0 || stderr != "" {
			t.Errorf("help %s: exit %d, stderr %q", c.name, exit, stderr)
			continue
		}
		zh, en, _ := strings.Cut(c.summary, "\n")
		want := []string{"usage: go run . " + c.name + " [flags]", "", zh, en, "(教程章节 / tutorial section: " + c.section + ")", "", "flags:"}
		got := proctest.Lines(stdout)
		if diff := cmp.Diff(want, got[:min(len(got), len(want))]); diff != "" {
			t.Errorf("help %s (-want +got):\n%s", c.name, diff)
		}
		for _, line := range got[len(want):] {
			if !strings.HasPrefix(line, "  --") && !strings.HasPrefix(line, "    \t") {
				t.Errorf("help %s: flag line %q is neither \"  --flag\" nor its usage", c.name, line)
			}
		}
		if dashH, _, _ := runInProcess(t, c.name, "-h"); dashH != stdout {
			t.Errorf("%s -h differs from help %s (-help +-h):\n%s", c.name, c.name, cmp.Diff(stdout, dashH))
		}
	}
	// Two commands' flags whole, including a boolean that is on by default.
	stdout, _, _ := runInProcess(t, "help", "loop")
	wantLoop := []string{
		"  --tick duration",
		"    \tthe pause after each count (the listing's time.sleep(1)) (default 1s)",
	}
	if diff := cmp.Diff(wantLoop, proctest.Lines(stdout)[7:9]); diff != "" {
		t.Errorf("help loop's --tick (-want +got):\n%s", diff)
	}
	stdout, _, _ = runInProcess(t, "help", "bank")
	if want := "(default true; turn it off with --lock=false)"; !strings.Contains(stdout, want) {
		t.Errorf("help bank does not say %q:\n%s", want, stdout)
	}
}

// hasHan reports whether s has a Chinese character.
func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// start runs the program with args; the test kills it if it is still running
// at the end.
func start(t testing.TB, name string, args ...string) *proctest.Proc {
	t.Helper()
	return startWithEnv(t, name, nil, args...)
}

// startWithEnv is start with variables added to the environment.
func startWithEnv(t testing.TB, name string, env []string, args ...string) *proctest.Proc {
	t.Helper()
	cmd := exec.Command(program, args...)
	cmd.Env = append(os.Environ(), env...)
	return proctest.Start(t, name, cmd)
}

// startMaster starts a master on a free loopback port and returns it with
// the address it listens on.
func startMaster(t testing.TB, args ...string) (*proctest.Proc, string) {
	t.Helper()
	master := start(t, "master", append([]string{"master", "--addr", "127.0.0.1:0"}, args...)...)
	m := master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: listening on (127\.0\.0\.1:\d+)$`))
	return master, m[1]
}

// finish waits for a worker that takes tasks until there are none, then for
// its master, and checks the master's output.
func finish(t *testing.T, master, worker *proctest.Proc) {
	t.Helper()
	if exit := worker.Wait(); exit != 0 {
		t.Errorf("%s exited %d: %s", worker.Name, exit, worker.Stderr)
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	checkMasterOutput(t, master)
}

// golden reads testdata/name.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkMasterOutput checks a master's whole output against the tasks it
// says it put: each result once, and each the square of its task.
func checkMasterOutput(t *testing.T, master *proctest.Proc) []int {
	t.Helper()
	var tasks []int
	var want []string
	for _, line := range proctest.Lines(master.Stdout.String()) {
		var n int
		if _, err := fmt.Sscanf(line, "Put task %d...", &n); err == nil {
			tasks = append(tasks, n)
			want = append(want, fmt.Sprintf("Result: %d * %d = %d", n, n, n*n))
		}
	}
	got := proctest.Lines(master.Stdout.String())
	wantAll := append(append(putLines(tasks), "Try get results..."), want...)
	wantAll = append(wantAll, "master exit.")
	// The puts and results are each in a block; results may come in any order.
	if len(got) != len(wantAll) {
		t.Fatalf("master printed %d lines, want %d:\n%s", len(got), len(wantAll), master.Stdout)
	}
	if diff := cmp.Diff(wantAll[:len(tasks)+1], got[:len(tasks)+1]); diff != "" {
		t.Errorf("master's puts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got[len(tasks)+1:len(got)-1], proctest.SameLines); diff != "" {
		t.Errorf("master's results, each once, each n*n (-want +got):\n%s", diff)
	}
	if got[len(got)-1] != "master exit." {
		t.Errorf("master's last line %q, want \"master exit.\"", got[len(got)-1])
	}
	return tasks
}

func putLines(tasks []int) []string {
	var lines []string
	for _, n := range tasks {
		lines = append(lines, fmt.Sprintf("Put task %d...", n))
	}
	return lines
}

// peakMiB is the peak memory that a quiet master, or a quiet worker,
// reports on stderr as it exits. (The rusage of a child process would not
// do: on Linux it counts the memory of its parent, this test, at the time
// of the fork.)
func peakMiB(t testing.TB, p *proctest.Proc) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^(?:master|worker): peak memory (\d+\.\d) MiB$`).FindStringSubmatch(p.Stderr.String())
	if m == nil {
		t.Fatalf("%s reported no peak memory:\n%s", p.Name, p.Stderr)
	}
	peak, _ := strconv.ParseFloat(m[1], 64)
	return peak
}

// The usage after a mistake shows each flag's default, not what was typed.
func TestUsageAfterAMistakeShowsDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"master", "--addr", "127.0.0.1:5001", "--timeout", "2h"}, `(default "127.0.0.1:5000")`, `(default "127.0.0.1:5001")`},
		{[]string{"bank", "--lock=false", "--bogus"}, "(default true; turn it off with --lock=false)", "(default false"},
		{[]string{"tasks", "--os-threads", "--n", "9001"}, "(default 5000)", "--os-threads=false"},
	} {
		_, stderr, exit := runInProcess(t, tc.args...)
		if exit != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, tc.not) {
			t.Errorf("%v: exit %d, want %q and not %q in:\n%s", tc.args, exit, tc.want, tc.not, stderr)
		}
	}
}

// The root is the tutorial: its listings, one file per section, and their
// tests. The machinery lives in internal/, where each package imports only
// the ones below it here, so that none reaches back up.
func TestLayout(t *testing.T) {
	t.Parallel()
	sections := []string{"main", "threads", "bank", "deadlock", "local", "distributed"}
	var listings []string
	files, _ := filepath.Glob("*.go")
	for _, file := range files {
		name, isTest := strings.CutSuffix(file, "_test.go")
		if !isTest {
			listings = append(listings, strings.TrimSuffix(file, ".go"))
			continue
		}
		section, _, _ := strings.Cut(name, "_")
		if !slices.Contains(sections, section) && file != "readme_test.go" {
			t.Errorf("%s tests no section of the tutorial: name it after one (%s)", file, strings.Join(sections, ", "))
		}
	}
	if diff := cmp.Diff(sections, listings, proctest.SameLines); diff != "" {
		t.Errorf("the root's Go files (-want +got):\n%s", diff)
	}

	allowed := map[string][]string{ // each package's internal imports
		"threading": nil, "rusage": nil, "pickle": nil, "logging": nil, "proctest": nil,
		"cli":        {"threading"},
		"queue":      {"logging"},
		"python":     {"rusage"},
		"pythontest": {"proctest", "python"},
		"rpcwire":    {"queue"},
		"mpconn":     {"cli", "pickle"},
		"worker":     {"cli", "mpconn", "pickle", "queue", "rpcwire", "rusage"},
		"master":     {"cli", "logging", "mpconn", "pickle", "queue", "rpcwire", "rusage"},
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Each package's name, whether it has a package doc, and its imports.
	out, err := exec.CommandContext(ctx, "go", "list", "-f", `{{.Name}} {{if .Doc}}doc{{else}}nodoc{{end}} {{join .Imports " "}}`, "./internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range proctest.Lines(string(out)) {
		fields := strings.Fields(line)
		if fields[1] != "doc" {
			t.Errorf("internal/%s has no package doc", fields[0])
		}
		fields = append(fields[:1], fields[2:]...)
		want, known := allowed[fields[0]]
		if !known {
			t.Errorf("internal/%s is not in this test's map of packages", fields[0])
		}
		for _, imported := range fields[1:] {
			if name, ok := strings.CutPrefix(imported, "multithreading/internal/"); ok && !slices.Contains(want, name) {
				t.Errorf("internal/%s imports internal/%s, which is not below it", fields[0], name)
			}
		}
	}
}
