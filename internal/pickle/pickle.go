// Package pickle reads and writes Python's pickles for plain values only:
// what multiprocessing.managers sends over the network in section 分布式进程,
// so that a Go worker or master can talk with the tutorial's own
// task_master.py and task_worker.py. Nothing a pickle names is ever imported
// or called.
//
// This file holds the Go values that stand for Python's, the few classes a
// pickle may name, and the encoder, which writes protocol 2 (3 for bytes):
// every Python 3 reads it. unpickle.go reads pickles.
package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Python's values, as the decoder builds them and the encoder takes them:
// None is nil, bool is bool, int is int64 (the encoder also takes int),
// float is float64, str is string (valid UTF-8), bytes is []byte.
type (
	Tuple []any
	List  []any
	Dict  []Item // in the order sent; for a repeated key the last wins, as in Python

	Item struct{ Key, Value any }

	// Exception is an instance of one of the classes knownPyClass allows,
	// such as ('#ERROR', _queue.Empty()) from a get that timed out.
	Exception struct {
		Module, Name string
		Args         Tuple
	}

	// pyClass is a class named by GLOBAL or STACK_GLOBAL, waiting for the
	// REDUCE that makes an exception of it. No decoded value contains one.
	pyClass struct{ Module, Name string }
)

// Empty is queue.Empty(): what Python's Queue.get raises when it times
// out. Its class lives in the C module _queue.
var Empty = Exception{Module: "_queue", Name: "Empty"}

// knownPyClass reports whether a pickle may name module.name: the queue
// module's two exceptions, and the builtin exceptions a manager's reply
// may carry. Anything else a pickle names is refused, before REDUCE.
func knownPyClass(module, name string) bool {
	switch module {
	case "_queue":
		return name == "Empty"
	case "queue": // the pure-Python queue module, where _queue is missing
		return name == "Empty" || name == "Full"
	case "builtins":
		switch name {
		case "Exception", "RuntimeError", "ValueError", "TypeError", "KeyError", "IndexError",
			"LookupError", "AttributeError", "AssertionError", "NotImplementedError",
			"EOFError", "OSError", "ConnectionError", "TimeoutError":
			return true
		}
	}
	return false
}

// Limits on a pickle beyond its size, which its caller limits.
const (
	maxPickleDepth = 32  // containers inside containers, and MARKs open at once
	maxGlobalName  = 128 // bytes in GLOBAL's module or name line
)

// Pickle opcodes: the ones CPython writes for the values above, in
// protocols 2 to 5 (Lib/pickle.py names them).
const (
	opProto          = 0x80
	opFrame          = 0x95
	opStop           = '.'
	opMark           = '('
	opNone           = 'N'
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opLong1          = 0x8a
	opBinFloat       = 'G'
	opShortBinUni    = 0x8c
	opBinUnicode     = 'X'
	opBinUnicode8    = 0x8d
	opShortBinBytes  = 'C'
	opBinBytes       = 'B'
	opBinBytes8      = 0x8e
	opEmptyTuple     = ')'
	opTuple          = 't'
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opEmptyList      = ']'
	opAppend         = 'a'
	opAppends        = 'e'
	opEmptyDict      = '}'
	opSetItem        = 's'
	opSetItems       = 'u'
	opMemoize        = 0x94
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opGlobal         = 'c'
	opStackGlobal    = 0x93
	opReduce         = 'R'
	pickleProtocol   = 2 // what the encoder writes: every Python 3 reads it
	pickleBytesProto = 3 // bytes need SHORT_BINBYTES or BINBYTES, from protocol 3
)

// pyHashable reports whether Python would take v as a dict key.
func pyHashable(v any) bool {
	switch v := v.(type) {
	case nil, bool, int64, float64, string, []byte:
		return true
	case Tuple:
		for _, item := range v {
			if !pyHashable(item) {
				return false
			}
		}
		return true
	}
	return false
}

// pyTypeName is Python's name for the type of v, for error messages.
func pyTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int, int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case Tuple:
		return "tuple"
	case List:
		return "list"
	case Dict:
		return "dict"
	case Exception:
		return v.Module + "." + v.Name
	case pyClass:
		return "class"
	}
	return fmt.Sprintf("Go %T", v)
}

// Encode writes v as a protocol 2 pickle (3 if it holds bytes).
// v is made of the types Decode returns, and int.
func Encode(v any) ([]byte, error) {
	e := pickleEncoder{buf: []byte{opProto, pickleProtocol}}
	if err := e.value(v, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return append(e.buf, opStop), nil
}

type pickleEncoder struct{ buf []byte }

func (e *pickleEncoder) value(v any, depth int) error {
	if depth > maxPickleDepth {
		return fmt.Errorf("containers nested more than %d deep", maxPickleDepth)
	}
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, opNone)
	case bool:
		if v {
			e.buf = append(e.buf, opNewTrue)
		} else {
			e.buf = append(e.buf, opNewFalse)
		}
	case int:
		e.writeInt(int64(v))
	case int64:
		e.writeInt(v)
	case float64:
		e.buf = append(e.buf, opBinFloat)
		e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(v))
	case string:
		if !utf8.ValidString(v) {
			return errors.New("a str must be valid UTF-8")
		}
		e.buf = append(e.buf, opBinUnicode)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(v)))
		e.buf = append(e.buf, v...)
	case []byte:
		e.buf[1] = max(e.buf[1], pickleBytesProto)
		e.buf = append(e.buf, opBinBytes)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(len(v)))
		e.buf = append(e.buf, v...)
	case Tuple:
		return e.tuple(v, depth)
	case List:
		e.buf = append(e.buf, opEmptyList)
		if len(v) > 0 {
			e.buf = append(e.buf, opMark)
			if err := e.values(v, depth); err != nil {
				return err
			}
			e.buf = append(e.buf, opAppends)
		}
	case Dict:
		e.buf = append(e.buf, opEmptyDict)
		if len(v) > 0 {
			e.buf = append(e.buf, opMark)
			for _, item := range v {
				if !pyHashable(item.Key) {
					return fmt.Errorf("a %s cannot be a dict key", pyTypeName(item.Key))
				}
				if err := e.values([]any{item.Key, item.Value}, depth); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, opSetItems)
		}
	case Exception:
		if !knownPyClass(v.Module, v.Name) {
			return fmt.Errorf("%s.%s is not a class the decoder would take back", v.Module, v.Name)
		}
		e.buf = append(e.buf, opGlobal)
		e.buf = append(e.buf, v.Module+"\n"+v.Name+"\n"...)
		if err := e.tuple(v.Args, depth); err != nil {
			return err
		}
		e.buf = append(e.buf, opReduce)
	default:
		return fmt.Errorf("cannot pickle a %s", pyTypeName(v))
	}
	return nil
}

func (e *pickleEncoder) values(items []any, depth int) error {
	for _, item := range items {
		if err := e.value(item, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (e *pickleEncoder) tuple(t Tuple, depth int) error {
	if len(t) == 0 {
		e.buf = append(e.buf, opEmptyTuple)
		return nil
	}
	if len(t) > 3 {
		e.buf = append(e.buf, opMark)
	}
	if err := e.values(t, depth); err != nil {
		return err
	}
	if len(t) > 3 {
		e.buf = append(e.buf, opTuple)
	} else {
		e.buf = append(e.buf, opTuple1+byte(len(t)-1))
	}
	return nil
}

// writeInt writes n in the fewest bytes, as CPython does.
func (e *pickleEncoder) writeInt(n int64) {
	switch {
	case n >= 0 && n <= math.MaxUint8:
		e.buf = append(e.buf, opBinInt1, byte(n))
	case n >= 0 && n <= math.MaxUint16:
		e.buf = append(e.buf, opBinInt2)
		e.buf = binary.LittleEndian.AppendUint16(e.buf, uint16(n))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		e.buf = append(e.buf, opBinInt)
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(n))
	default:
		// LONG1: the shortest little-endian two's complement.
		b := binary.LittleEndian.AppendUint64(nil, uint64(n))
		for len(b) > 1 && (b[len(b)-1] == 0 && b[len(b)-2] < 0x80 || b[len(b)-1] == 0xff && b[len(b)-2] >= 0x80) {
			b = b[:len(b)-1]
		}
		e.buf = append(e.buf, opLong1, byte(len(b)))
		e.buf = append(e.buf, b...)
	}
}

// Repr is a short Python-like repr of v, for messages.
func Repr(v any) string {
	var b strings.Builder
	writePyRepr(&b, v, 0)
	const shown = 200
	if text := []rune(b.String()); len(text) > shown {
		return string(text[:shown]) + "..."
	}
	return b.String()
}

func writePyRepr(b *strings.Builder, v any, depth int) {
	if depth > maxPickleDepth || b.Len() > 1000 {
		b.WriteString("...")
		return
	}
	items := func(opening, closing string, values []any) {
		b.WriteString(opening)
		for i, item := range values {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyRepr(b, item, depth+1)
		}
		b.WriteString(closing)
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		b.WriteString(strconv.Quote(v))
	case []byte:
		b.WriteString("b" + strconv.Quote(string(v)))
	case Tuple:
		if len(v) == 1 {
			items("(", ",)", v)
		} else {
			items("(", ")", v)
		}
	case List:
		items("[", "]", v)
	case Dict:
		b.WriteString("{")
		for i, item := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyRepr(b, item.Key, depth+1)
			b.WriteString(": ")
			writePyRepr(b, item.Value, depth+1)
		}
		b.WriteString("}")
	case Exception:
		b.WriteString(v.Name)
		items("(", ")", v.Args)
	default:
		fmt.Fprint(b, v)
	}
}
