// A flag whose value may be left out: --python alone, or --python=PATH.

package cli

import (
	"errors"
	"flag"
)

// OptionalString defines a flag that is given alone, --name, to mean
// ifAlone, or with its value after =, --name=VALUE. It is "" when not given,
// and --name=false turns it back off. As for a boolean, the flag package
// takes it alone only because it says it is one (IsBoolFlag): a value after
// a space is not its own, and Parse says to write it after =.
func OptionalString(fs *flag.FlagSet, name, ifAlone, usage string) *string {
	f := &optionalString{ifAlone: ifAlone}
	fs.Var(f, name, usage)
	return &f.value
}

type optionalString struct {
	value, ifAlone string
}

func (f *optionalString) IsBoolFlag() bool { return true }

func (f *optionalString) Set(s string) error {
	switch s {
	case "true": // given alone
		f.value = f.ifAlone
	case "false":
		f.value = ""
	case "":
		return errors.New("empty: give a value after =, or the flag alone")
	default:
		f.value = s
	}
	return nil
}

func (f *optionalString) String() string {
	if f == nil {
		return ""
	}
	return f.value
}

func (f *optionalString) Get() any { return f.value }
