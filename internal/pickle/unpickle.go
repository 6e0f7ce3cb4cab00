// Unpickling for section 分布式进程: reading what Python's multiprocessing
// sends, with none of the risk of Python's own unpickler.
//
// A pickle is a program for a small stack machine whose opcodes may import
// and call anything: Python's pickle.loads runs whatever code a peer's
// bytes name. This decoder runs the few opcodes CPython 3.11 to 3.13 emit
// for the values in pickle.go, and REDUCE only makes an inert Exception of
// a class knownPyClass allows: it never runs code a peer sends. Every size
// and index in a pickle is checked against the bytes actually sent before
// anything is allocated for it, and no value may be referred to twice but a
// str, bytes, number or class, so n bytes decode to at most n values, in
// under 100n bytes of memory (TestPickleDecodeMemoryIsBounded).

package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ErrInvalid wraps every decoding error.
var ErrInvalid = errors.New("pickle")

// Decode decodes one pickle that fills data exactly.
func Decode(data []byte) (any, error) {
	d := pickleDecoder{data: data, emptyTuple: Tuple{}, emptyList: List{}, emptyDict: Dict{}}
	v, err := d.run()
	if err != nil {
		return nil, fmt.Errorf("%w: at byte %d: %v", ErrInvalid, d.opAt, err)
	}
	return v, nil
}

// pickleDecoder is one run of the stack machine.
type pickleDecoder struct {
	data  []byte
	proto byte    // the protocol PROTO names
	pos   int     // next byte to read
	opAt  int     // where the current opcode starts, for errors
	stack []any   // values built so far
	depth []uint8 // depth[i] is how deeply stack[i] nests containers
	marks []int   // stack lengths at each open MARK
	memo  []any   // what MEMOIZE and BINPUT stored

	// An empty container, boxed once, for every EMPTY_TUPLE, EMPTY_LIST
	// and EMPTY_DICT: appending to an empty slice copies it anyway.
	emptyTuple, emptyList, emptyDict any
}

func (d *pickleDecoder) run() (any, error) {
	if len(d.data) < 2 || d.data[0] != opProto {
		return nil, errors.New("not a pickle of protocol 2 or later")
	}
	for {
		d.opAt = d.pos
		op, err := d.readByte()
		if err != nil {
			return nil, err
		}
		if op == opStop {
			return d.stop()
		}
		if err := d.step(op); err != nil {
			return nil, err
		}
	}
}

// step runs one opcode other than STOP.
func (d *pickleDecoder) step(op byte) error {
	switch op {
	case opProto:
		version, err := d.readByte()
		if err != nil {
			return err
		}
		if d.opAt != 0 || version < 2 || version > 5 {
			return fmt.Errorf("PROTO %d: want one PROTO 2 to 5, first", version)
		}
		d.proto = version
		return nil
	case opFrame:
		size, err := d.readUint(8)
		if err != nil {
			return err
		}
		if size > uint64(len(d.data)-d.pos) {
			return fmt.Errorf("a frame of %d bytes, but %d are left", size, len(d.data)-d.pos)
		}
		return nil // frames only help a reader of a stream; we hold the whole message
	case opMark:
		if len(d.marks) == maxPickleDepth {
			return fmt.Errorf("more than %d MARKs open", maxPickleDepth)
		}
		d.marks = append(d.marks, len(d.stack))
		return nil
	case opNone:
		return d.push(nil, 0)
	case opNewTrue, opNewFalse:
		return d.push(op == opNewTrue, 0)
	case opBinInt1, opBinInt2, opBinInt, opLong1:
		n, err := d.readInt(op)
		if err != nil {
			return err
		}
		return d.push(n, 0)
	case opBinFloat:
		bits, err := d.take(8)
		if err != nil {
			return err
		}
		return d.push(math.Float64frombits(binary.BigEndian.Uint64(bits)), 0)
	case opShortBinUni, opBinUnicode, opBinUnicode8:
		text, err := d.counted(op, opShortBinUni, opBinUnicode)
		if err != nil {
			return err
		}
		if !utf8.Valid(text) {
			return errors.New("a str that is not valid UTF-8")
		}
		return d.push(string(text), 0)
	case opShortBinBytes, opBinBytes, opBinBytes8:
		raw, err := d.counted(op, opShortBinBytes, opBinBytes)
		if err != nil {
			return err
		}
		return d.push(bytes.Clone(raw), 0)
	case opEmptyTuple:
		return d.push(d.emptyTuple, 1)
	case opTuple1, opTuple2, opTuple3:
		return d.tuple(int(op-opTuple1) + 1)
	case opTuple:
		mark, err := d.popMark()
		if err != nil {
			return err
		}
		return d.tuple(len(d.stack) - mark)
	case opEmptyList:
		return d.push(d.emptyList, 1)
	case opAppend, opAppends:
		return d.appends(op == opAppends)
	case opEmptyDict:
		return d.push(d.emptyDict, 1)
	case opSetItem, opSetItems:
		return d.setItems(op == opSetItems)
	case opMemoize, opBinPut, opLongBinPut:
		return d.put(op)
	case opBinGet, opLongBinGet:
		return d.get(op)
	case opGlobal:
		module, err := d.readLine()
		if err != nil {
			return err
		}
		name, err := d.readLine()
		if err != nil {
			return err
		}
		return d.class(module, name)
	case opStackGlobal:
		return d.stackGlobal()
	case opReduce:
		return d.reduce()
	}
	return fmt.Errorf("opcode 0x%02x %s is not one these messages use", op, strconv.QuoteRune(rune(op)))
}

// stop ends the pickle: one value left, no MARK open, no byte after.
func (d *pickleDecoder) stop() (any, error) {
	switch {
	case len(d.marks) > 0:
		return nil, errors.New("STOP with a MARK still open")
	case len(d.stack) != 1:
		return nil, fmt.Errorf("STOP with %d values on the stack, want 1", len(d.stack))
	case d.pos != len(d.data):
		return nil, fmt.Errorf("%d bytes after STOP", len(d.data)-d.pos)
	}
	if _, ok := d.stack[0].(pyClass); ok {
		return nil, errors.New("a bare class is not a value")
	}
	return d.stack[0], nil
}

// readByte, take, readUint and readLine read the opcode's argument, never past the end.
func (d *pickleDecoder) readByte() (byte, error) {
	b, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *pickleDecoder) take(n uint64) ([]byte, error) {
	if n > uint64(len(d.data)-d.pos) {
		return nil, fmt.Errorf("wants %d bytes, but %d are left", n, len(d.data)-d.pos)
	}
	b := d.data[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

// readUint reads a little-endian unsigned integer of size bytes.
func (d *pickleDecoder) readUint(size uint64) (uint64, error) {
	b, err := d.take(size)
	if err != nil {
		return 0, err
	}
	var n uint64
	for i := len(b) - 1; i >= 0; i-- {
		n = n<<8 | uint64(b[i])
	}
	return n, nil
}

// readLine reads GLOBAL's newline-terminated argument.
func (d *pickleDecoder) readLine() (string, error) {
	rest := d.data[d.pos:min(len(d.data), d.pos+maxGlobalName+1)]
	end := bytes.IndexByte(rest, '\n')
	if end < 0 {
		return "", fmt.Errorf("GLOBAL without a newline within %d bytes", maxGlobalName)
	}
	d.pos += end + 1
	return string(rest[:end]), nil
}

// readInt reads the integer of BININT1, BININT2, BININT or LONG1.
func (d *pickleDecoder) readInt(op byte) (int64, error) {
	switch op {
	case opBinInt1:
		n, err := d.readUint(1)
		return int64(n), err
	case opBinInt2:
		n, err := d.readUint(2)
		return int64(n), err
	case opBinInt:
		n, err := d.readUint(4)
		return int64(int32(n)), err
	}
	size, err := d.readUint(1) // LONG1: a length, then little-endian two's complement
	if err != nil {
		return 0, err
	}
	if size > 8 {
		return 0, fmt.Errorf("an int of %d bytes does not fit in 64 bits", size)
	}
	n, err := d.readUint(size)
	if err != nil || size == 0 {
		return 0, err
	}
	shift := 64 - 8*size
	return int64(n<<shift) >> shift, nil // sign-extend
}

// counted reads the bytes of a str or bytes opcode: short has a 1-byte
// length, long a 4-byte one, and the third an 8-byte one.
func (d *pickleDecoder) counted(op, short, long byte) ([]byte, error) {
	lengthSize := uint64(8)
	switch op {
	case short:
		lengthSize = 1
	case long:
		lengthSize = 4
	}
	size, err := d.readUint(lengthSize)
	if err != nil {
		return nil, err
	}
	return d.take(size)
}

// push adds a value that nests depth containers deep.
func (d *pickleDecoder) push(v any, depth int) error {
	if depth > maxPickleDepth {
		return fmt.Errorf("containers nested more than %d deep", maxPickleDepth)
	}
	d.stack = grow(d.stack, 1)
	d.depth = grow(d.depth, 1)
	d.stack = append(d.stack, v)
	d.depth = append(d.depth, uint8(depth))
	return nil
}

// grow makes room for n more elements, doubling the capacity as needed:
// append grows a large slice by a quarter at a time, which allocates five
// times its final size on the way there.
func grow[S ~[]E, E any](s S, n int) S {
	if cap(s)-len(s) >= n {
		return s
	}
	bigger := make(S, len(s), max(2*cap(s), len(s)+n, 8))
	copy(bigger, s)
	return bigger
}

// fence is the lowest stack index the current opcode may pop: values under
// the newest MARK belong to an enclosing opcode.
func (d *pickleDecoder) fence() int {
	if len(d.marks) == 0 {
		return 0
	}
	return d.marks[len(d.marks)-1]
}

func (d *pickleDecoder) popMark() (int, error) {
	if len(d.marks) == 0 {
		return 0, errors.New("no MARK to pop to")
	}
	mark := d.marks[len(d.marks)-1]
	d.marks = d.marks[:len(d.marks)-1]
	return mark, nil
}

// popItems takes the top n values off the stack, with their deepest depth.
// They must be values a container may hold: not a class. The slice
// returned is the stack's own: copy it before the next push.
func (d *pickleDecoder) popItems(n int) ([]any, int, error) {
	if n < 0 || len(d.stack)-n < d.fence() {
		return nil, 0, errors.New("the stack holds too few values")
	}
	from := len(d.stack) - n
	items := d.stack[from:]
	deepest := 0
	for i, v := range items {
		if _, ok := v.(pyClass); ok {
			return nil, 0, errors.New("a class is not a value a container may hold")
		}
		deepest = max(deepest, int(d.depth[from+i]))
	}
	d.stack, d.depth = d.stack[:from], d.depth[:from]
	return items, deepest, nil
}

func (d *pickleDecoder) tuple(n int) error {
	items, deepest, err := d.popItems(n)
	if err != nil {
		return err
	}
	return d.push(Tuple(slices.Clone(items)), deepest+1)
}

// appends is APPEND (one value) or APPENDS (the values above the MARK) onto
// the list under them.
func (d *pickleDecoder) appends(many bool) error {
	n := 1
	if many {
		mark, err := d.popMark()
		if err != nil {
			return err
		}
		n = len(d.stack) - mark
	}
	items, deepest, err := d.popItems(n)
	if err != nil {
		return err
	}
	top := len(d.stack) - 1
	if top < d.fence() {
		return errors.New("APPEND with no list")
	}
	list, ok := d.stack[top].(List)
	if !ok {
		return fmt.Errorf("APPEND to a %s, not a list", pyTypeName(d.stack[top]))
	}
	d.stack[top] = append(grow(list, len(items)), items...)
	d.depth[top] = max(d.depth[top], uint8(deepest+1))
	if d.depth[top] > maxPickleDepth {
		return fmt.Errorf("containers nested more than %d deep", maxPickleDepth)
	}
	return nil
}

// setItems is SETITEM (one key and value) or SETITEMS (the pairs above the
// MARK) into the dict under them.
func (d *pickleDecoder) setItems(many bool) error {
	n := 2
	if many {
		mark, err := d.popMark()
		if err != nil {
			return err
		}
		n = len(d.stack) - mark
		if n%2 != 0 {
			return errors.New("SETITEMS with a key and no value")
		}
	}
	items, deepest, err := d.popItems(n)
	if err != nil {
		return err
	}
	top := len(d.stack) - 1
	if top < d.fence() {
		return errors.New("SETITEM with no dict")
	}
	dict, ok := d.stack[top].(Dict)
	if !ok {
		return fmt.Errorf("SETITEM on a %s, not a dict", pyTypeName(d.stack[top]))
	}
	dict = grow(dict, len(items)/2)
	for i := 0; i < len(items); i += 2 {
		if !pyHashable(items[i]) {
			return fmt.Errorf("a %s cannot be a dict key", pyTypeName(items[i]))
		}
		dict = append(dict, Item{Key: items[i], Value: items[i+1]})
	}
	d.stack[top] = dict
	d.depth[top] = max(d.depth[top], uint8(deepest+1))
	if d.depth[top] > maxPickleDepth {
		return fmt.Errorf("containers nested more than %d deep", maxPickleDepth)
	}
	return nil
}

// put stores the top of the stack in the memo: MEMOIZE at the next index,
// BINPUT and LONG_BINPUT at the one they name, which CPython always makes
// the next one too.
func (d *pickleDecoder) put(op byte) error {
	index := uint64(len(d.memo))
	var err error
	switch op {
	case opBinPut:
		index, err = d.readUint(1)
	case opLongBinPut:
		index, err = d.readUint(4)
	}
	if err != nil {
		return err
	}
	if len(d.stack) <= d.fence() {
		return errors.New("nothing to memoize")
	}
	if index > uint64(len(d.memo)) {
		return fmt.Errorf("memo index %d skips past %d", index, len(d.memo))
	}
	top := d.stack[len(d.stack)-1]
	if index == uint64(len(d.memo)) {
		d.memo = append(d.memo, top)
	} else {
		d.memo[index] = top
	}
	return nil
}

// get pushes a memoized value again. Only a str, bytes, number or class
// may be fetched twice: a container fetched twice could make a pickle of n
// bytes stand for far more than n values, and the decoder builds lists and
// dicts in place, so a memoized one is not the final one.
func (d *pickleDecoder) get(op byte) error {
	size := uint64(1)
	if op == opLongBinGet {
		size = 4
	}
	index, err := d.readUint(size)
	if err != nil {
		return err
	}
	if index >= uint64(len(d.memo)) {
		return fmt.Errorf("memo index %d was never stored", index)
	}
	v := d.memo[index]
	switch v.(type) {
	case Tuple, List, Dict, Exception:
		return fmt.Errorf("a %s referred to twice: not supported", pyTypeName(v))
	}
	return d.push(v, 0)
}

// stackGlobal names a class by the two strs on top of the stack.
func (d *pickleDecoder) stackGlobal() error {
	if len(d.stack)-2 < d.fence() {
		return errors.New("STACK_GLOBAL needs a module and a name")
	}
	module, ok1 := d.stack[len(d.stack)-2].(string)
	name, ok2 := d.stack[len(d.stack)-1].(string)
	if !ok1 || !ok2 {
		return errors.New("STACK_GLOBAL needs two strs")
	}
	d.stack, d.depth = d.stack[:len(d.stack)-2], d.depth[:len(d.stack)-2]
	return d.class(module, name)
}

func (d *pickleDecoder) class(module, name string) error {
	if d.proto < 3 && (module == "exceptions" || module == "__builtin__") {
		module = "builtins" // Python 2's names, which Python 3 writes in protocol 2 and maps back
	}
	if !knownPyClass(module, name) {
		return fmt.Errorf("refusing to name %.64q.%.64q: only a few exception classes may appear", module, name)
	}
	return d.push(pyClass{Module: module, Name: name}, 0)
}

// reduce is REDUCE: calling a class with a tuple of arguments. Here that
// only builds a Exception: nothing is called.
func (d *pickleDecoder) reduce() error {
	if len(d.stack)-2 < d.fence() {
		return errors.New("REDUCE needs a class and its arguments")
	}
	class, ok := d.stack[len(d.stack)-2].(pyClass)
	if !ok {
		return fmt.Errorf("REDUCE of a %s, not a class", pyTypeName(d.stack[len(d.stack)-2]))
	}
	args, ok := d.stack[len(d.stack)-1].(Tuple)
	if !ok {
		return fmt.Errorf("REDUCE with a %s, not a tuple of arguments", pyTypeName(d.stack[len(d.stack)-1]))
	}
	argsDepth := d.depth[len(d.stack)-1]
	d.stack, d.depth = d.stack[:len(d.stack)-2], d.depth[:len(d.stack)-2]
	return d.push(Exception{Module: class.Module, Name: class.Name, Args: args}, int(argsDepth)+1)
}
