// The master's side of the run: its streams, what it put and what it
// printed. A run lives in the server's store, so a master killed mid-run and
// started again finishes it, which the main program's master, holding its
// queue in memory, cannot do.

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A runState is what the master was asked to do, and what it has done so far.
type runState struct {
	tasks   int
	seed    uint64
	put     int          // tasks in the stream so far: its last sequence number
	resumed bool         // the run was stored by a master before this one
	printed map[int]bool // the tasks whose result the master printed
	js      jetstream.JetStream
	kv      jetstream.KeyValue // the run's record: "run" and one "printed.ID" per result
	retry   retrier
}

// runConfig is how the run's streams are made.
type runConfig struct {
	tasks       int
	seed        uint64
	seedSet     bool          // the seed was given, not drawn: a stored run must have it
	lease       time.Duration // the consumer's AckWait
	replicas    int           // 1, or 3 on a cluster of three
	where       string        // the store or the servers, to name the run
	startAfresh string        // how to drop a stored run
}

// openRun makes the run's streams, or finds the run a master before this
// one left unfinished. A stored run of other tasks is refused.
func openRun(ctx context.Context, js jetstream.JetStream, retry retrier, cfg runConfig) (*runState, error) {
	r := &runState{tasks: cfg.tasks, seed: cfg.seed, js: js, retry: retry, printed: map[int]bool{}}
	err := retry.do(ctx, "make the run's record", 0, func(ctx context.Context) error {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: runBucket, Storage: jetstream.FileStorage, Replicas: cfg.replicas,
		})
		r.kv = kv
		return err
	})
	if err != nil {
		return nil, err
	}
	stored, err := r.kv.Get(ctx, "run")
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		_, err = r.kv.Create(ctx, "run", []byte(r.describe()))
	case err == nil:
		r.resumed = true
		err = r.resume(string(stored.Value()), cfg)
	}
	if err != nil {
		return nil, err
	}

	// 发送任务的队列: a work-queue stream, where a task stays until a
	// worker acks it.
	streams := []jetstream.StreamConfig{
		{Name: taskStream, Subjects: []string{taskSubject}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, Replicas: cfg.replicas},
		// 接收结果的队列: results keyed by task, a duplicate dropped within
		// the window (Nats-Msg-Id).
		{Name: resultStream, Subjects: []string{resultPrefix + ">"}, Storage: jetstream.FileStorage,
			Replicas: cfg.replicas, Duplicates: 10 * time.Minute},
	}
	for _, stream := range streams {
		err := retry.do(ctx, "make the stream "+stream.Name, 0, func(ctx context.Context) error {
			s, err := js.CreateOrUpdateStream(ctx, stream)
			if err == nil && stream.Name == taskStream {
				r.put = int(s.CachedInfo().State.LastSeq) // the tasks put before a restart
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	// The lease: a task not acked within AckWait goes to another worker,
	// however many times it takes.
	return r, retry.do(ctx, "make the workers' consumer", 0, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateConsumer(ctx, taskStream, jetstream.ConsumerConfig{
			Durable: workers, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.lease,
			MaxDeliver: -1, MaxAckPending: -1, Replicas: cfg.replicas,
		})
		return err
	})
}

// describe is the run's record: what a restarted master must be asked again.
func (r *runState) describe() string {
	return fmt.Sprintf("%d tasks, seed %d", r.tasks, r.seed)
}

// resume takes up the stored run, if the command line asks for the same one.
func (r *runState) resume(stored string, cfg runConfig) error {
	var tasks int
	var seed uint64
	if _, err := fmt.Sscanf(stored, "%d tasks, seed %d", &tasks, &seed); err != nil {
		return fmt.Errorf("%s holds a run this program did not write: %q", cfg.where, stored)
	}
	if tasks != cfg.tasks || (cfg.seedSet && seed != cfg.seed) {
		return fmt.Errorf("%s holds an unfinished run of %s: finish it with --tasks %d --seed %d, or %s%w",
			cfg.where, stored, tasks, seed, cfg.startAfresh, errStoredRun)
	}
	r.seed = seed
	return nil
}

// errStoredRun marks the refusal of a run that differs from the stored one:
// a mistake on the command line, exit 2.
var errStoredRun = errors.New("")

// loadPrinted reads which results a master before this one printed.
func (r *runState) loadPrinted(ctx context.Context) error {
	keys, err := r.kv.ListKeysFiltered(ctx, "printed.*")
	if err != nil {
		return err
	}
	for key := range keys.Keys() {
		id, err := strconv.Atoi(strings.TrimPrefix(key, "printed."))
		if err == nil {
			r.printed[id] = true
		}
	}
	return nil // the lister stops itself once it has listed every key
}

// putTask puts the task id in the stream. The stream's last sequence number
// counts the tasks put, so a put that a lost leader left in doubt is tried
// again only if it did not land.
func (r *runState) putTask(ctx context.Context, id, n int) error {
	msg := newTaskMsg(id, n)
	return r.retry.do(ctx, "put a task", 0, func(ctx context.Context) error {
		_, err := r.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequence(uint64(id)))
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return r.landed(ctx, id)
		}
		return err
	})
}

// landed checks that task id is in the stream after a put whose answer was
// lost.
func (r *runState) landed(ctx context.Context, id int) error {
	s, err := r.js.Stream(ctx, taskStream)
	if err != nil {
		return err
	}
	if last := s.CachedInfo().State.LastSeq; last != uint64(id)+1 {
		return fmt.Errorf("the task stream holds %d tasks where task %d should be the last: is another master running?", last, id)
	}
	return nil
}

// markPrinted records that the result of task id was printed. The record
// is written before the result is acknowledged, so a restarted master
// prints again only a result it printed in the instant of a kill.
func (r *runState) markPrinted(ctx context.Context, id int) error {
	r.printed[id] = true
	return r.retry.do(ctx, "record a printed result", 0, func(ctx context.Context) error {
		_, err := r.kv.Put(ctx, "printed."+strconv.Itoa(id), nil)
		return err
	})
}

// finish deletes the run: a finished run leaves nothing to resume.
func (r *runState) finish(ctx context.Context) error {
	return r.retry.do(ctx, "delete the finished run", 0, func(ctx context.Context) error {
		for _, stream := range []string{taskStream, resultStream} {
			if err := r.js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return err
			}
		}
		err := r.js.DeleteKeyValue(ctx, runBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		return err
	})
}

// newTaskMsg is task id: its number, with its id in a header.
func newTaskMsg(id, n int) *nats.Msg {
	msg := &nats.Msg{Subject: taskSubject, Data: []byte(strconv.Itoa(n)), Header: nats.Header{}}
	msg.Header.Set(taskIDHeader, strconv.Itoa(id))
	return msg
}
