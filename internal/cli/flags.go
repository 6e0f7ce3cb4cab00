// Flags that say what is wrong with a value, in one line, and what to type
// instead, as the README spells them: --tick, --lock=false.

package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrUsage reports a command-line mistake that run has already explained on
// stderr.
var ErrUsage = errors.New("usage error")

// PrintFlags is flag.PrintDefaults with the flags spelled as the README
// spells them, --tick, and a boolean that is on by default shown turned off
// the only way Go's flags allow: --lock=false.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typeName, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if typeName != "" {
			fmt.Fprintf(w, " %s", typeName)
		}
		fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		// The default, not the value: after a mistake, the flags already
		// parsed hold what was typed.
		switch d := f.DefValue; {
		case typeName == "" && d == "true": // a boolean on by default
			fmt.Fprintf(w, " (default true; turn it off with --%s=false)", f.Name)
		case typeName == "string" && d != "":
			fmt.Fprintf(w, " (default %q)", d)
		case typeName != "string" && d != "" && d != "0" && d != "0s" && d != "false":
			fmt.Fprintf(w, " (default %s)", d)
		}
		fmt.Fprintln(w)
	})
}

// flagValue is a flag's current value, whose type says what the flag
// takes, or nil if its type does not say.
func flagValue(f *flag.Flag) any {
	if getter, ok := f.Value.(flag.Getter); ok {
		return getter.Get()
	}
	return nil
}

// Parse parses a command's flags. A command that takes no arguments rejects
// leftovers. The flag package's own messages ("parse error") do not say what
// a value should look like: parse keeps it quiet and says so itself.
func Parse(fs *flag.FlagSet, args []string) error {
	output, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(output)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return Usagef(fs, "%s", explainFlagError(fs, err))
	case fs.NArg() == 0:
		return nil
	}
	// A Python user writes --lock false; Go's boolean flags take --lock=false.
	// And --python PATH, for a flag that may be given alone (OptionalString).
	if before := len(args) - fs.NArg() - 1; before >= 0 && isBoolFlag(fs, args[before]) {
		name := strings.TrimLeft(args[before], "-")
		if _, err := strconv.ParseBool(fs.Arg(0)); err == nil {
			return Usagef(fs, "write --%s=%s, not --%s %s: a boolean flag takes its value after =", name, fs.Arg(0), name, fs.Arg(0))
		}
		if _, optional := fs.Lookup(name).Value.(*optionalString); optional {
			return Usagef(fs, "write --%s=%s, not --%s %s: --%s takes its value after =, or none", name, fs.Arg(0), name, fs.Arg(0), name)
		}
	}
	return Usagef(fs, "unexpected argument %q", fs.Arg(0))
}

// isBoolFlag reports whether arg is a boolean flag of fs without a value.
func isBoolFlag(fs *flag.FlagSet, arg string) bool {
	name, ok := strings.CutPrefix(arg, "-")
	name = strings.TrimPrefix(name, "-")
	if !ok || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	boolFlag, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && boolFlag.IsBoolFlag()
}

// badFlagValue matches the flag package's message for a value that does not
// parse, as it wrote it since Go 1.0.
var badFlagValue = regexp.MustCompile(`^invalid (?:boolean )?value (".*") for (?:flag )?-(\S+): (.*)$`)

// explainFlagError rewrites the flag package's error: the flag as the README
// spells it (--tick) and, for a value of the wrong form, what it should be.
func explainFlagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var known []string
		fs.VisitAll(func(f *flag.Flag) { known = append(known, "--"+f.Name) })
		return fmt.Sprintf("unknown flag --%s; known: %s", name, strings.Join(known, ", "))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		if f := fs.Lookup(name); f != nil && f.DefValue != "" {
			return fmt.Sprintf("--%s needs a value, as in --%s %s", name, name, f.DefValue)
		}
		return fmt.Sprintf("--%s needs a value", name)
	}
	m := badFlagValue.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	value, name, reason := m[1], m[2], m[3]
	if f := fs.Lookup(name); f != nil && reason == "parse error" {
		switch flagValue(f).(type) {
		case time.Duration:
			reason = "a duration needs a unit, as in 1s or 100ms"
		case bool:
			reason = fmt.Sprintf("want true or false, written --%s=false", name)
		case int, int64:
			reason = "want a whole number, as in " + f.DefValue
		case uint, uint64:
			reason = "want a whole number, 0 or more"
		case float64:
			reason = "want a number, as in " + f.DefValue
		}
	}
	return fmt.Sprintf("invalid value %s for --%s: %s", value, name, reason)
}

// Usagef reports a bad flag value in one line, then the command's usage.
func Usagef(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return ErrUsage
}

// Validate reports the first failed check as a usage error.
func Validate(fs *flag.FlagSet, checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return Usagef(fs, "%v", err)
		}
	}
	return nil
}

// Positive checks that a count or duration flag is above zero.
func Positive[T int | time.Duration](name string, value T) error {
	if value <= 0 {
		return fmt.Errorf("--%s must be positive, not %v", name, value)
	}
	return nil
}

// NotNegative checks that a count or duration flag is zero or more.
func NotNegative[T int | time.Duration](name string, value T) error {
	if value < 0 {
		return fmt.Errorf("--%s must not be negative, not %v", name, value)
	}
	return nil
}

// AtLeast checks that a count or duration flag is no less than limit.
func AtLeast[T int | time.Duration](name string, value, limit T) error {
	if value < limit {
		return fmt.Errorf("--%s must be at least %v, not %v", name, limit, value)
	}
	return nil
}

// AtMost checks that a count or duration flag is no more than limit.
func AtMost[T int | time.Duration](name string, value, limit T) error {
	if value > limit {
		return fmt.Errorf("--%s must be at most %v, not %v", name, limit, value)
	}
	return nil
}

// Port checks that an address flag's port is a number from lowest to 65535.
// (0 asks the system for any free port: the master may, the worker not.)
func Port(name, addr string, lowest int) error {
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // HostPort says so
	}
	if p, err := strconv.Atoi(portText); err != nil || p < lowest || p > 65535 {
		return fmt.Errorf("--%s %q: the port must be a number from %d to 65535", name, addr, lowest)
	}
	return nil
}

// HostPort checks that an address flag is host:port. An IPv6 address's own
// colons hide the port's: it goes in brackets, [::1]:5000.
func HostPort(name, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return nil
	}
	if i := strings.LastIndex(addr, ":"); strings.Count(addr, ":") > 1 && !strings.Contains(addr, "[") {
		host, port := addr[:i], addr[i+1:]
		if _, err := netip.ParseAddr(host); err == nil && port != "" {
			return fmt.Errorf("--%s %q: an IPv6 address goes in brackets: [%s]:%s", name, addr, host, port)
		}
	}
	return fmt.Errorf("--%s %q: want host:port, as in 127.0.0.1:5000 or [::1]:5000", name, addr)
}
