// What a peer may define in gob, for section 分布式进程's connections.
//
// gob keeps, for a connection's life, every type the peer defines. Most
// definitions come as messages of their own, which the codec counts; but a
// value whose type has an interface field carries its concrete type's
// definition inline, where no count sees it. None of the messages between
// master and worker has an interface anywhere, so a peer may define no type
// that refers to one, nor send a value of interface type: then every
// definition is a message of its own, counted and bounded. A definition is a
// gob-encoded wireType, whose few shapes gob documents (encoding/gob's
// doc.go); this reads just enough of it to see its name, its fields and the
// type ids it refers to, and on the master's side holds it to the types a
// worker sends (workerTypes).

package rpcwire

import (
	"errors"
	"fmt"
	"slices"
)

// gobInterface is gob's id for the interface type.
const gobInterface = 8

// checkGobTypes reads the gob messages in frame: each is a length, then a
// type id, negative for a type definition. It counts the definitions and
// their bytes, and refuses an interface, in a definition or as a value, and
// a definition that allow (if not nil) does not take. A frame that does not
// parse is left to gob to refuse.
func checkGobTypes(frame []byte, allow func(typeShape) bool) (definitions, bytes int, err error) {
	for len(frame) > 0 {
		size, n := gobUint(frame)
		if n == 0 || size > uint64(len(frame)-n) {
			break
		}
		message := frame[n : n+int(size)]
		frame = frame[n+int(size):]
		r := gobReader{b: message}
		switch id := r.int(); {
		case r.bad:
			return definitions, bytes, nil
		case id == gobInterface:
			return definitions, bytes, errInterfaceType
		case id < 0:
			definitions++
			bytes += len(message)
			shape, ok := readTypeShape(&r)
			if !ok || shape.refersTo(gobInterface) {
				return definitions, bytes, errInterfaceType
			}
			if allow != nil && !allow(shape) {
				return definitions, bytes, fmt.Errorf("%w: %.40q", errUnknownType, shape.name) // as the peer named it, quoted
			}
		}
	}
	return definitions, bytes, nil
}

var (
	errInterfaceType = errors.New("a type with an interface in it")
	errUnknownType   = errors.New("a type that no worker sends")
)

// workerTypes are the type definitions that a worker's requests carry, as
// this package's client sends them (TestWorkerTypes): the only ones the
// master's side of a connection takes. A peer that knows the key may not
// define others, such as a type that holds itself, whose values gob
// would decode however deep they go.
var workerTypes = []typeShape{
	{kind: 2, name: "Request", fields: []fieldShape{{"ServiceMethod", 6}, {"Seq", 3}}},
	{kind: 2, name: "GetArgs", fields: []fieldShape{{"Max", 2}, {"Wait", 2}}},
	{kind: 4, name: "ResultBatch"},
	{kind: 2, name: "Result", fields: []fieldShape{{"ID", 2}, {"Lease", 3}, {"Text", 6}}},
	{kind: 4, name: "LeaseList"},
}

// isWorkerType says whether shape is one of workerTypes.
func isWorkerType(shape typeShape) bool {
	return slices.ContainsFunc(workerTypes, func(known typeShape) bool {
		return known.kind == shape.kind && known.name == shape.name &&
			slices.Equal(known.fields, shape.fields) && len(shape.elems) == 0
	})
}

// A gobReader reads gob's integers and structs from b, and remembers
// whether they did not parse.
type gobReader struct {
	b   []byte
	bad bool
}

// uint reads one of gob's unsigned integers (see gobUint).
func (r *gobReader) uint() uint64 {
	v, n := gobUint(r.b)
	if n == 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

// int reads a signed integer: an unsigned one with the sign in its lowest bit.
func (r *gobReader) int() int64 {
	u := r.uint()
	if u&1 == 1 {
		return ^int64(u >> 1)
	}
	return int64(u >> 1)
}

// count reads a slice's length, which must fit in what is left.
func (r *gobReader) count() int {
	n := r.uint()
	if n > uint64(len(r.b)) {
		r.bad = true
		return 0
	}
	return int(n)
}

func (r *gobReader) string() string {
	if n := r.count(); !r.bad {
		s := string(r.b[:n])
		r.b = r.b[n:]
		return s
	}
	return ""
}

// fields reads a struct: for each field present, its number's delta from
// the last, then its value, which field must read; a delta of 0 ends it.
// A field that field does not know, or a struct cut short, is bad.
func (r *gobReader) fields(field func(number int) bool) bool {
	number := -1
	for !r.bad {
		delta := r.uint()
		if delta == 0 || r.bad {
			return !r.bad
		}
		if delta > 8 {
			r.bad = true
			break
		}
		number += int(delta)
		if !field(number) {
			r.bad = true
		}
	}
	return false
}

// gobUint reads one of gob's unsigned integers: a byte below 128 is
// itself; otherwise it is minus the count of big-endian bytes that follow.
// It returns the value and the bytes read, 0 if data is too short.
func gobUint(data []byte) (value uint64, read int) {
	if len(data) == 0 {
		return 0, 0
	}
	if data[0] < 0x80 {
		return uint64(data[0]), 1
	}
	size := 256 - int(data[0]) // minus, as a byte: 0xff is 1 byte, 0xf8 is 8
	if size > 8 || len(data) < 1+size {
		return 0, 0
	}
	for _, b := range data[1 : 1+size] {
		value = value<<8 | uint64(b)
	}
	return value, 1 + size
}

// A typeShape is what a gob type definition says of a type: its kind (the
// field of gob's wireType that is set: 0 array, 1 slice, 2 struct, 3 map,
// 4 to 6 the marshalers), its name, and the type ids it refers to: a
// struct's fields, by name, and an array's, slice's or map's elements.
type typeShape struct {
	kind   int
	name   string
	fields []fieldShape
	elems  []int64
}

type fieldShape struct {
	name string
	id   int64
}

// refersTo says whether the type refers to the type id.
func (shape typeShape) refersTo(id int64) bool {
	return slices.Contains(shape.elems, id) || slices.ContainsFunc(shape.fields, func(f fieldShape) bool { return f.id == id })
}

// readTypeShape reads a wireType, and says whether it parsed.
func readTypeShape(r *gobReader) (shape typeShape, ok bool) {
	common := func() { // CommonType{Name string; Id typeId}
		r.fields(func(field int) bool {
			switch field {
			case 0:
				shape.name = r.string()
			case 1:
				r.int()
			default:
				return false
			}
			return true
		})
	}
	r.fields(func(kind int) bool { // wireType: one of its pointers is set
		shape.kind = kind
		return r.fields(func(field int) bool {
			switch {
			case field == 0:
				common()
			case kind == 0 && field == 1, kind == 1 && field == 1, kind == 3 && (field == 1 || field == 2):
				shape.elems = append(shape.elems, r.int()) // arrayType.Elem, sliceType.Elem, mapType.Key and Elem
			case kind == 0 && field == 2:
				r.int() // arrayType.Len
			case kind == 2 && field == 1: // structType.Field []fieldType{Name; Id}
				for range r.count() {
					var f fieldShape
					r.fields(func(number int) bool {
						switch number {
						case 0:
							f.name = r.string()
						case 1:
							f.id = r.int()
						default:
							return false
						}
						return true
					})
					shape.fields = append(shape.fields, f)
				}
			default: // the three marshaler kinds have only their CommonType
				return false
			}
			return true
		})
	})
	return shape, !r.bad
}
