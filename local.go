// Section ThreadLocal of the tutorial and its three fragments:
// std passed down by hand (local --pass), a global_dict keyed by thread
// (local --dict), and threading.local (local).
//
// Go has no goroutine-local storage on purpose: what a goroutine's calls
// share travels in a context.Context, passed as the first argument. That is
// the first fragment made uniform: still passed by hand, but as one argument
// that carries every such value, which every layer passes on without knowing
// what is in it. It works the same for goroutines a request fans out to. The
// global_dict fragment shows what Go's way avoids: a lock, and entries to
// delete by hand.

package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"multithreading/internal/threading"
)

// studentKey is the twin of local_school.student: each goroutine's context
// carries its own student under this key, and no other code can collide with it.
type studentKey struct{}

// processStudent reads back the student bound to this goroutine's context.
func processStudent(ctx context.Context, out io.Writer) {
	// 获取当前线程关联的student:
	std := ctx.Value(studentKey{}).(string)
	fmt.Fprintf(out, "Hello, %s (in %s)\n", std, threading.CurrentThread(ctx))
}

func processThread(ctx context.Context, out io.Writer, name string) {
	// 绑定ThreadLocal的student:
	ctx = context.WithValue(ctx, studentKey{}, name)
	processStudent(ctx, out)
}

// localMain is the listing's module level code.
func localMain(ctx context.Context, out io.Writer) {
	var wg sync.WaitGroup
	// t1 = threading.Thread(target=process_thread, args=('Alice',), name='Thread-A'); t1.start()
	wg.Add(1)
	go func() {
		defer wg.Done()
		processThread(threading.Named(ctx, "Thread-A"), out, "Alice")
	}()
	// t2 = threading.Thread(target=process_thread, args=('Bob',), name='Thread-B'); t2.start()
	wg.Add(1)
	go func() {
		defer wg.Done()
		processThread(threading.Named(ctx, "Thread-B"), out, "Bob")
	}()
	wg.Wait() // t1.join(); t2.join()
}

// threadsOfTheListing are the threads that the threading.local listing
// starts, in its order, which the other two fragments run in too.
var threadsOfTheListing = []struct{ name, student string }{{"Thread-A", "Alice"}, {"Thread-B", "Bob"}}

// Student is the listing's Student(name).
type Student struct{ Name string }

// processStudentByHand is the first fragment's process_student(name). The
// thread name comes from ctx, as Python's threading.current_thread() needs
// no passing; the student is passed to every function that needs it.
func processStudentByHand(ctx context.Context, out io.Writer, name string) {
	std := Student{Name: name}
	// std是局部变量，但是每个函数都要用它，因此必须传进去：
	doTask1ByHand(ctx, out, std)
	doTask2ByHand(ctx, out, std)
}

// doTask1ByHand needs std only to hand it on. (The fragment's do_task_1
// calls do_subtask_1 and do_subtask_2, and its do_task_2 calls do_subtask_2
// twice; here each task calls one subtask, so that the output is --dict's.)
func doTask1ByHand(ctx context.Context, out io.Writer, std Student) {
	doSubtask1(ctx, out, std)
}

func doTask2ByHand(ctx context.Context, out io.Writer, std Student) {
	doSubtask2(ctx, out, std)
}

func doSubtask1(ctx context.Context, out io.Writer, std Student) {
	fmt.Fprintf(out, "Hello, %s (in %s)\n", std.Name, threading.CurrentThread(ctx))
}

func doSubtask2(ctx context.Context, out io.Writer, std Student) {
	fmt.Fprintf(out, "Bye, %s (in %s)\n", std.Name, threading.CurrentThread(ctx))
}

// localPassMain runs the first fragment in the same two threads.
func localPassMain(ctx context.Context, out io.Writer) {
	var wg sync.WaitGroup
	for _, t := range threadsOfTheListing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			processStudentByHand(threading.Named(ctx, t.name), out, t.student)
		}()
	}
	wg.Wait()
}

// studentDict is global_dict. Python's dict survives concurrent threads
// because of the GIL; a Go map does not, so it needs a lock.
type studentDict struct {
	mu       sync.Mutex         // guards students
	students map[string]Student // keyed by thread name
}

func (d *studentDict) put(thread string, std Student) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.students[thread] = std
}

func (d *studentDict) get(thread string) Student {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.students[thread]
}

func (d *studentDict) remove(thread string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.students, thread)
}

func stdThread(ctx context.Context, out io.Writer, globalDict *studentDict, name string) {
	std := Student{Name: name}
	// 把std放到全局变量global_dict中:
	globalDict.put(threading.CurrentThread(ctx), std)
	// A context value goes away with its goroutine; a dict entry stays until
	// someone deletes it.
	defer globalDict.remove(threading.CurrentThread(ctx))
	doTask1(ctx, out, globalDict)
	doTask2(ctx, out, globalDict)
}

func doTask1(ctx context.Context, out io.Writer, globalDict *studentDict) {
	// 不传入std，而是根据当前线程查找:
	std := globalDict.get(threading.CurrentThread(ctx))
	doSubtask1(ctx, out, std) // the fragment's "...": what the first fragment's task does
}

func doTask2(ctx context.Context, out io.Writer, globalDict *studentDict) {
	// 任何函数都可以查找出当前线程的std变量:
	std := globalDict.get(threading.CurrentThread(ctx))
	doSubtask2(ctx, out, std)
}

// localDictMain runs the global_dict listing in the same two goroutines.
func localDictMain(ctx context.Context, out io.Writer) {
	globalDict := &studentDict{students: map[string]Student{}}
	var wg sync.WaitGroup
	for _, t := range threadsOfTheListing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stdThread(threading.Named(ctx, t.name), out, globalDict, t.student)
		}()
	}
	wg.Wait()
}
