// A goroutine dump by thread name, for the deadlock that section LCOK warns
// of: where each of the tutorial's threads waits.

package threading

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
)

// threadLabels finds a thread's name in a goroutine profile record.
var threadLabels = regexp.MustCompile(`(?m)^# labels: .*"` + Label + `":"([^"]*)"`)

// WriteStacks writes where each goroutine that Named named is, from the
// goroutine profile (debug=1 is the text form that shows the labels), as
// Python's faulthandler.dump_traceback writes each thread's stack. It keeps
// the frames of package main and of package sync, where a goroutine waits
// for a lock.
func WriteStacks(w io.Writer) {
	var profile bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&profile, 1)
	var stacks []string
	for _, record := range strings.Split(profile.String(), "\n\n") {
		name := threadLabels.FindStringSubmatch(record)
		if name == nil {
			continue
		}
		stack := name[1] + ":\n"
		for line := range strings.Lines(record) {
			// A frame: "#\t0x4b6cb4\tmain.transfer+0x54\t\t/path/deadlock.go:84"
			frame := strings.Split(strings.TrimSpace(line), "\t")
			if len(frame) < 4 || frame[0] != "#" {
				continue
			}
			function, _, _ := strings.Cut(frame[2], "+0x")
			if strings.HasPrefix(function, "main.") || strings.HasPrefix(function, "sync.") {
				stack += fmt.Sprintf("\t%s (%s)\n", function, frame[len(frame)-1])
			}
		}
		stacks = append(stacks, stack)
	}
	slices.Sort(stacks)
	fmt.Fprint(w, strings.Join(stacks, ""))
}
