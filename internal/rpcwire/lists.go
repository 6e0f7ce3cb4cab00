// The lists that master and worker send each other in section 分布式进程,
// as they cross the wire.
//
// gob decodes a slice by growing it as it reads, and an empty element costs
// a byte on the wire but 30 or more in memory: a megabyte of empty results
// would make a million of them. These lists encode themselves, count first,
// and refuse a count over its limit, or over what the bytes could hold,
// before they allocate anything.

package rpcwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"multithreading/internal/queue"
)

// MaxWait is the longest a worker may ask the master to wait for a task.
const MaxWait = time.Minute

// GetArgs asks the task queue for up to Max tasks, waiting up to Wait for one.
type GetArgs struct {
	Max  int
	Wait time.Duration
}

// TaskBatch is the answer: some tasks, none (the queue is empty), or none
// ever again (Closed: every task has its result, or the master is stopping).
// The tasks are leased for LeaseFor, and the worker renews them while it
// works on them.
type TaskBatch struct {
	Tasks    TaskList
	Closed   bool
	LeaseFor time.Duration
}

// PutReply is ResultQueue.Put's answer: how many of the results the master
// refused, and why, as "not leased to it: 2".
type PutReply struct {
	Refused int
	Why     string
}

// ResultBatch is what ResultQueue.Put carries: at most MaxBatch results.
type ResultBatch []queue.Result

// TaskList is what TaskQueue.Get answers: at most MaxBatch tasks, each
// a number or a path of at most queue.MaxPath bytes.
type TaskList []queue.Task

// LeaseList is what TaskQueue.Renew carries: at most MaxInFlight leases.
type LeaseList []uint64

var errBadList = errors.New("malformed list")

func (b ResultBatch) GobEncode() ([]byte, error) {
	data := binary.AppendUvarint(nil, uint64(len(b)))
	for _, r := range b {
		data = binary.AppendVarint(data, int64(r.ID))
		data = binary.AppendUvarint(data, r.Lease)
		data = binary.AppendUvarint(data, uint64(len(r.Text)))
		data = append(data, r.Text...)
	}
	return data, nil
}

func (b *ResultBatch) GobDecode(data []byte) error {
	r := listReader{data: data}
	count := r.count(MaxBatch, 3) // an ID, a lease and a length: 3 bytes at least
	results := make(ResultBatch, 0, count)
	for range count {
		id, lease, size := r.varint(), r.uvarint(), r.uvarint()
		if size > queue.MaxText && r.err == nil {
			r.err = fmt.Errorf("%w: a result of %d bytes (at most %d)", errBadList, size, queue.MaxText)
		}
		results = append(results, queue.Result{ID: int(id), Lease: lease, Text: string(r.bytes(size))})
	}
	*b = results
	return r.done()
}

func (l TaskList) GobEncode() ([]byte, error) {
	data := binary.AppendUvarint(nil, uint64(len(l)))
	for _, t := range l {
		data = binary.AppendVarint(data, int64(t.ID))
		data = binary.AppendVarint(data, int64(t.N))
		data = binary.AppendUvarint(data, uint64(len(t.Path)))
		data = append(data, t.Path...)
		data = binary.AppendUvarint(data, t.Lease)
	}
	return data, nil
}

func (l *TaskList) GobDecode(data []byte) error {
	r := listReader{data: data}
	count := r.count(MaxBatch, 4) // an ID, an N, a path's length and a lease
	tasks := make(TaskList, 0, count)
	for range count {
		id, n, size := r.varint(), r.varint(), r.uvarint()
		if size > queue.MaxPath && r.err == nil {
			r.err = fmt.Errorf("%w: a path of %d bytes (at most %d)", errBadList, size, queue.MaxPath)
		}
		path := string(r.bytes(size))
		// A worker prints the path it is given: it must print as one line.
		if path != "" && r.err == nil {
			if err := queue.CheckPath(path); err != nil {
				r.err = fmt.Errorf("%w: %v", errBadList, err)
			}
		}
		tasks = append(tasks, queue.Task{ID: int(id), N: int(n), Path: path, Lease: r.uvarint()})
	}
	*l = tasks
	return r.done()
}

func (l LeaseList) GobEncode() ([]byte, error) {
	data := binary.AppendUvarint(nil, uint64(len(l)))
	for _, id := range l {
		data = binary.AppendUvarint(data, id)
	}
	return data, nil
}

func (l *LeaseList) GobDecode(data []byte) error {
	r := listReader{data: data}
	count := r.count(MaxInFlight, 1)
	leases := make(LeaseList, 0, count)
	for range count {
		leases = append(leases, r.uvarint())
	}
	*l = leases
	return r.done()
}

// listReader reads a list's varints, remembering the first error.
type listReader struct {
	data []byte
	err  error
}

// count reads a list's length, which must be at most limit, and fit in the
// bytes left at minSize bytes an element; else it is 0, and an error.
func (r *listReader) count(limit, minSize int) int {
	n := r.uvarint()
	if r.err == nil && (n > uint64(limit) || n > uint64(len(r.data)/minSize)) {
		r.err = fmt.Errorf("%w: %d elements in %d bytes (at most %d)", errBadList, n, len(r.data), limit)
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *listReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.data)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *listReader) varint() int64 {
	v, n := binary.Varint(r.data)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.data = r.data[n:]
	return v
}

func (r *listReader) bytes(size uint64) []byte {
	if size > uint64(len(r.data)) {
		r.fail()
		return nil
	}
	b := r.data[:size]
	r.data = r.data[size:]
	return b
}

func (r *listReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: cut short", errBadList)
	}
}

// done reports the first error, or bytes left over.
func (r *listReader) done() error {
	if r.err == nil && len(r.data) > 0 {
		r.err = fmt.Errorf("%w: %d bytes left over", errBadList, len(r.data))
	}
	return r.err
}
