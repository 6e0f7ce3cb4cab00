// Tests of bank.go: sections 线程之间的通信 and LCOK.

package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBankLockedAndTellerAlwaysReach100(t *testing.T) {
	t.Parallel()
	want := "账户余额为: ￥100元\n"
	for _, flags := range [][]string{{"--lock"}, {"--chan"}} {
		for range 20 {
			args := append([]string{"bank", "--delay", "50us"}, flags...)
			stdout, stderr, exit := runInProcess(t, args...)
			if diff := cmp.Diff(want, stdout); diff != "" || exit != 0 || stderr != "" {
				t.Fatalf("bank %v: exit %d, stderr %q, output (-want +got):\n%s", flags, exit, stderr, diff)
			}
		}
	}
}

// The unprotected listing runs in a binary built without -race, since in
// this test process the race detector would fail the test for the race the
// listing exists to show.
func TestBankUnlockedLosesDeposits(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runBinary(t, program, "bank", "--lock=false")
	m := regexp.MustCompile(`^账户余额为: ￥(\d+)元\n$`).FindStringSubmatch(stdout)
	if m == nil || exit != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, output %q", exit, stderr, stdout)
	}
	if balance, _ := strconv.Atoi(m[1]); balance >= 100 {
		t.Errorf("balance ¥%d: want far below ¥100, deposits lost", balance)
	}
}

// raceBinary builds the program with -race, the first time a test asks.
var raceBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(buildDir, "multithreading-race")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build -race: %v\n%s", err, out)
	}
	return bin, nil
})

// The race detector names the unprotected account's race, and finds none
// in the locked account or the teller.
func TestRaceDetectorCatchesUnlockedBank(t *testing.T) {
	t.Parallel()
	bin, err := raceBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags []string
		racy  bool
	}{
		{[]string{"--lock=false"}, true},
		{[]string{"--lock"}, false},
		{[]string{"--chan"}, false},
	} {
		args := append([]string{"bank", "--delay", "1ms"}, tc.flags...)
		_, stderr, exit := runBinary(t, bin, args...)
		reported := strings.Contains(stderr, "WARNING: DATA RACE")
		if reported != tc.racy {
			t.Errorf("bank %v under -race: race reported = %v, want %v (exit %d)\n%s", tc.flags, reported, tc.racy, exit, stderr)
		}
		if tc.racy && !strings.Contains(stderr, "UnsafeAccount).Deposit") {
			t.Errorf("the race report does not name UnsafeAccount.Deposit:\n%s", stderr)
		}
	}
}
