// Tests of bank.go: sections 线程之间的通信 and LCOK.

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"multithreading/internal/proctest"

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
	ctx, cancel := context.WithTimeout(context.Background(), proctest.BuildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-race", "-o", bin, ".").CombinedOutput()
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
		// The racing lines are Deposit's own, not a closure's within it.
		if tc.racy && (!strings.Contains(stderr, "UnsafeAccount).Deposit()") || strings.Contains(stderr, "Deposit.func")) {
			t.Errorf("the race report does not name UnsafeAccount.Deposit itself:\n%s", stderr)
		}
		if tc.racy {
			checkReadmeShowsTheRace(t, stderr)
		}
	}
}

// checkReadmeShowsTheRace checks that both READMEs' race report names the
// lines of bank.go that race, the read and the write, in whichever order
// the detector saw them.
func checkReadmeShowsTheRace(t *testing.T, report string) {
	t.Helper()
	first := regexp.MustCompile(`(?s)(?:Read|Write) at 0x[0-9a-f]+ by goroutine \d+:.*?bank\.go:(\d+) `).FindStringSubmatch(report)
	previous := regexp.MustCompile(`(?s)Previous (?:read|write) at 0x[0-9a-f]+ by goroutine \d+:.*?bank\.go:(\d+) `).FindStringSubmatch(report)
	if first == nil || previous == nil {
		t.Fatalf("no two bank.go lines in the race report:\n%s", report)
	}
	for _, readme := range []string{readmeEnglish, readmeChinese} {
		text, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{first[1], previous[1]} {
			if !strings.Contains(string(text), "multithreading/bank.go:"+line+" ") {
				t.Errorf("%s's race report does not show bank.go:%s, where the race is", readme, line)
			}
		}
	}
}

// bank --time adds one line after the tutorial's. The lock makes the
// deposits take turns, so they take at least 100 delays, however idle the
// machine; without it they sleep all at once. Both run in the binary built
// without -race, which the unprotected account needs.
func TestBankTimeShowsTheLocksCost(t *testing.T) {
	t.Parallel()
	const delay = 5 * time.Millisecond
	took := func(flags ...string) (balance int, elapsed time.Duration) {
		t.Helper()
		args := append([]string{"bank", "--time", "--delay", delay.String()}, flags...)
		stdout, stderr, exit := runBinary(t, program, args...)
		m := regexp.MustCompile(`^账户余额为: ￥(\d+)元\ndeposits took (\S+)\n$`).FindStringSubmatch(stdout)
		if m == nil || exit != 0 || stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q, output %q", args, exit, stderr, stdout)
		}
		balance, _ = strconv.Atoi(m[1])
		elapsed, err := time.ParseDuration(m[2])
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return balance, elapsed
	}
	lockedBalance, locked := took("--lock")
	unlockedBalance, unlocked := took("--lock=false")
	t.Logf("locked: ¥%d in %v; unlocked: ¥%d in %v", lockedBalance, locked, unlockedBalance, unlocked)
	if lockedBalance != 100 || unlockedBalance >= 100 {
		t.Errorf("balances ¥%d locked and ¥%d unlocked, want ¥100 and less", lockedBalance, unlockedBalance)
	}
	if locked < 100*delay {
		t.Errorf("locked, 100 deposits of %v took %v: want them one after the other, at least %v", delay, locked, 100*delay)
	}
	if locked < 2*unlocked {
		t.Errorf("locked %v, unlocked %v: want the lock to make it at least twice as slow", locked, unlocked)
	}
}

// BenchmarkBank is one deposit per op, from as many goroutines as cores,
// with no processing delay: the cost of the lock against the teller.
func BenchmarkBank(b *testing.B) {
	b.Run("mutex", func(b *testing.B) {
		account := &Account{}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				account.Deposit(1)
			}
		})
	})
	b.Run("chan", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		account := NewTellerAccount(ctx, 0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				account.Deposit(1)
			}
		})
	})
}
