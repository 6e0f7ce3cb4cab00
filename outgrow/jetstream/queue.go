// The tutorial's two queues, on JetStream. Each idea of the main program's
// queue (docs/queue.md) is one of JetStream's, named where it is used:
//
//	task queue    a work-queue stream: a task leaves it when a worker acks it
//	lease         the consumer's AckWait
//	renewal       InProgress(), sent while the worker works
//	requeue       redelivery, once AckWait passes without an ack
//	exactly once  a result keyed by its task's id: Nats-Msg-Id, and the
//	              master keeps the first result per task
//	authkey       the server's token

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The names of a run's streams and of the workers' consumer. One server (or
// cluster) holds one run at a time.
const (
	taskStream   = "TUTORIAL_TASKS"
	resultStream = "TUTORIAL_RESULTS"
	runBucket    = "TUTORIAL_RUN"
	workers      = "workers" // the consumer every worker shares
	taskSubject  = "tutorial.task"
	resultPrefix = "tutorial.result." // + the task's id
	taskIDHeader = "Task-Id"
	deliveredHdr = "Delivered" // how many times the task was delivered, as its worker saw it
)

// errEmpty is queue.Empty: no task came within the wait.
var errEmpty = errors.New("task queue is empty")

// errNoRun says that the server holds no run: no master has put tasks, or
// its run is finished and gone.
var errNoRun = errors.New("no run on the server: the master has not started, or has finished")

// A task is one number to square, as the master put it.
type task struct {
	id, n     int
	delivered uint64 // how many times the stream has handed it out
	msg       jetstream.Msg
	stop      func() // stops the renewal
}

// taskQueue is the workers' side of the task stream.
type taskQueue struct {
	consumer jetstream.Consumer
	lease    time.Duration // the consumer's AckWait
	retry    retrier
}

// Get is task.get(timeout=...): the next task, or errEmpty. The task stays
// this worker's while it renews it, which a goroutine does until the result
// is put: the worker's code never sees it, as with the main program's master.
func (q *taskQueue) Get(ctx context.Context, timeout time.Duration) (*task, error) {
	var msg jetstream.Msg
	err := q.retry.do(ctx, "take a task", timeout, func(ctx context.Context) error {
		batch, err := q.consumer.Fetch(1, jetstream.FetchMaxWait(timeout)) // ends within the wait; Ctrl-C does not wait for it
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			msg = m
		}
		if err := batch.Error(); err != nil || msg != nil {
			return err
		}
		return q.stillThere(ctx)
	})
	switch {
	case err != nil:
		return nil, err
	case msg == nil:
		return nil, errEmpty
	}
	t, err := parseTask(msg)
	if err != nil {
		// Not a task this program put: take it out of the queue for good.
		msg.TermWithReason(err.Error())
		return nil, err
	}
	// A master started again may have shortened the lease since this
	// worker read it: renewing at least every 300 ms keeps any lease of a
	// second or more.
	t.stop = renew(msg, min(q.lease/3, 300*time.Millisecond))
	return t, nil
}

// stillThere tells an empty queue from a run that is gone, which a fetch
// does not: it waits out its time and returns nothing in both cases, and
// also while the connection is lost.
func (q *taskQueue) stillThere(ctx context.Context) error {
	if !q.retry.nc.IsConnected() {
		return nats.ErrDisconnected // the retrier waits --retry for a server
	}
	_, err := q.consumer.Info(ctx)
	return err
}

// parseTask reads the task's id and number.
func parseTask(msg jetstream.Msg) (*task, error) {
	id, err := strconv.Atoi(msg.Headers().Get(taskIDHeader))
	if err != nil || id < 0 {
		return nil, fmt.Errorf("a task with no id on %s", msg.Subject())
	}
	n, err := strconv.Atoi(string(msg.Data()))
	if err != nil {
		return nil, fmt.Errorf("task %d is not a number: %.20q", id, msg.Data())
	}
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	return &task{id: id, n: n, delivered: meta.NumDelivered, msg: msg}, nil
}

// renew tells the server, every interval, that the worker is still at the
// task, which restarts its AckWait (the lease), until stop is called.
func renew(msg jetstream.Msg, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				msg.InProgress() // +WPI; a lost one costs at most a redelivery
			case <-done:
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// resultQueue is the workers' side of the result stream.
type resultQueue struct {
	js    jetstream.JetStream
	log   io.Writer // hears of results the stream dropped
	retry retrier
}

// Put is result.put(r): it publishes the result, keyed by the task's id,
// then acks the task, so that a worker killed between the two leaves a task
// that is done again and a second result that the stream drops. A result
// that came after another's for the same task is dropped, and log hears so.
func (q *resultQueue) Put(ctx context.Context, t *task, r string) error {
	t.stop()
	result := newResultMsg(t, r)
	var stored *jetstream.PubAck
	err := q.retry.do(ctx, "put a result", 0, func(ctx context.Context) error {
		var err error
		stored, err = q.js.PublishMsg(ctx, result)
		if isPerSubjectLimit(err) {
			return errHadOne
		}
		return err
	})
	if hadOne := errors.Is(err, errHadOne) || (err == nil && stored.Duplicate && t.delivered > 1); hadOne {
		fmt.Fprintf(q.log, "worker: the stream dropped the result of task %d: it had one already (the task was delivered %d times)\n", t.id, t.delivered)
	} else if err != nil {
		return err
	}
	// The task leaves the work-queue stream. A lost ack costs a redelivery
	// at most, whose result the stream drops; the master, if it has its
	// last result, may already be gone.
	t.msg.Ack()
	return nil
}

// errHadOne says that the result stream holds a result for the task
// already: it keeps one per task, the first.
var errHadOne = errors.New("the stream has a result for this task")

// isPerSubjectLimit reports whether a publish was refused because its
// subject, one task's, holds its one message already.
func isPerSubjectLimit(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum messages per subject")
}

// newResultMsg is r, the result of t, keyed by its task: the subject names
// the task, so that the stream keeps the first result, and Nats-Msg-Id lets
// a worker publish it again when the stream's answer was lost.
func newResultMsg(t *task, r string) *nats.Msg {
	id := strconv.Itoa(t.id)
	msg := &nats.Msg{Subject: resultPrefix + id, Data: []byte(r), Header: nats.Header{}}
	msg.Header.Set(taskIDHeader, id)
	msg.Header.Set(deliveredHdr, strconv.FormatUint(t.delivered, 10))
	msg.Header.Set(jetstream.MsgIDHeader, "result-"+id)
	return msg
}

// retrier rides out a cluster's loss of its leader: while the connection
// lives, JetStream's errors are retried, each try with a short deadline
// (a request made while a stream has no leader waits out its whole
// deadline), until rideOut has passed since the last success.
type retrier struct {
	nc      *nats.Conn
	rideOut time.Duration // how long errors are retried
	retry   time.Duration // how long to wait for a server once the connection is lost
	try     time.Duration // the deadline of one try
}

// do runs call until it succeeds, or fails in a way that retrying cannot
// mend, or for longer than the retrier allows. wait is how long a call may
// take by design (a fetch's wait), on top of a try's deadline.
func (r retrier) do(ctx context.Context, what string, wait time.Duration, call func(ctx context.Context) error) error {
	deadline := time.Now().Add(r.rideOut)
	lost := time.Time{} // when the connection was last seen lost
	for {
		tryCtx, cancel := context.WithTimeout(ctx, wait+r.try)
		err := call(tryCtx)
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case gone(err):
			return errNoRun
		case errors.Is(err, nats.ErrAuthorization), errors.Is(err, errHadOne):
			return err
		case permanent(err):
			return fmt.Errorf("%s: %w", what, err)
		}
		if !r.nc.IsConnected() {
			if lost.IsZero() {
				lost = time.Now()
			}
			if time.Since(lost) >= r.retry {
				if r.retry == 0 {
					return fmt.Errorf("%s: %w (--retry waits for it)", what, errServerGone)
				}
				return fmt.Errorf("%s: %w within --retry %v", what, errServerGone, r.retry)
			}
		} else if lost = (time.Time{}); time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// permanent reports whether an error will come again however often the
// call is tried: an answer from JetStream that is not "unavailable" (503),
// which a stream without a leader answers.
func permanent(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code != 503
}

// errServerGone says that the server went away and did not come back.
var errServerGone = errors.New("the server is gone")

// gone reports whether err says that the run's streams are not there.
func gone(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrConsumerDeleted)
}
