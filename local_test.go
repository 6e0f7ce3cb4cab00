// Tests of local.go: section ThreadLocal.

package main

import (
	"testing"

	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

func TestLocal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flag string
		want []string
	}{
		{"--dict=false", []string{"Hello, Alice (in Thread-A)", "Hello, Bob (in Thread-B)"}},
		{"--dict", []string{"Hello, Alice (in Thread-A)", "Bye, Alice (in Thread-A)", "Hello, Bob (in Thread-B)", "Bye, Bob (in Thread-B)"}},
		{"--pass", []string{"Hello, Alice (in Thread-A)", "Bye, Alice (in Thread-A)", "Hello, Bob (in Thread-B)", "Bye, Bob (in Thread-B)"}},
	} {
		stdout, stderr, exit := runInProcess(t, "local", tc.flag)
		if exit != 0 || stderr != "" {
			t.Fatalf("local %s: exit %d, stderr %q", tc.flag, exit, stderr)
		}
		got := proctest.Lines(stdout)
		if diff := cmp.Diff(tc.want, got, proctest.SameLines); diff != "" {
			t.Errorf("local %s (-want +got):\n%s", tc.flag, diff)
		}
		if tc.flag != "--dict=false" {
			assertBefore(t, got, "Hello, Alice (in Thread-A)", "Bye, Alice (in Thread-A)")
			assertBefore(t, got, "Hello, Bob (in Thread-B)", "Bye, Bob (in Thread-B)")
		}
	}
}

func TestLocalFlags(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runInProcess(t, "local", "--dict", "--pass")
	want := "local: --dict and --pass are two different fragments: choose one"
	if exit != 2 || stdout != "" || proctest.Lines(stderr)[0] != want {
		t.Errorf("exit %d, stdout %q, stderr first line %q, want exit 2 and %q", exit, stdout, proctest.Lines(stderr)[0], want)
	}
}
