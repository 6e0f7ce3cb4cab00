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
// one left unfinished. A stored run of other tasks is refused; one that was
// being deleted when its master died is deleted, and a new run begins.
func openRun(ctx context.Context, js jetstream.JetStream, retry retrier, cfg runConfig) (*runState, error) {
	r := &runState{tasks: cfg.tasks, seed: cfg.seed, js: js, retry: retry, printed: map[int]bool{}}
	stored, err := r.openRecord(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	if stored != "" {
		r.resumed = true
		if err := r.resume(stored, cfg); err != nil {
			return nil, err
		}
	}

	// 发送任务的队列: a work-queue stream, where a task stays until a
	// worker acks it.
	streams := []jetstream.StreamConfig{
		{Name: taskStream, Subjects: []string{taskSubject}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, Replicas: cfg.replicas},
		// 接收结果的队列: one result per task, the first: the stream itself
		// refuses a second on the same subject, and drops a publish it has
		// stored already (Nats-Msg-Id), so that a worker may try again.
		{Name: resultStream, Subjects: []string{resultPrefix + ">"}, Storage: jetstream.FileStorage,
			Replicas: cfg.replicas, Duplicates: 10 * time.Minute,
			MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true},
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

// openRecord opens the run's record and returns the stored run, or "" if
// there is none and a record of this one was made. A stored run keeps the
// replicas it was made with, however many servers this master was given.
func (r *runState) openRecord(ctx context.Context, cfg *runConfig) (string, error) {
	var stored string
	err := r.retry.do(ctx, "open the run's record", 0, func(ctx context.Context) error {
		kv, err := r.js.KeyValue(ctx, runBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = r.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: runBucket, Storage: jetstream.FileStorage, Replicas: cfg.replicas})
		}
		if err != nil {
			return err
		}
		r.kv = kv
		if status, err := kv.Status(ctx); err == nil {
			cfg.replicas = status.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas
		}
		entry, err := kv.Get(ctx, "run")
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			_, err = kv.Create(ctx, "run", []byte(r.describe()))
			return err
		}
		if err == nil {
			stored = string(entry.Value())
		}
		return err
	})
	if err != nil || !strings.HasSuffix(stored, finished) {
		return stored, err
	}
	// The master before this one finished, and died deleting its run.
	if err := r.finish(ctx); err != nil {
		return "", err
	}
	return r.openRecord(ctx, cfg)
}

// finished marks a run whose results were all printed, and which its master
// is deleting.
const finished = ", finished"

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

// loadPrinted reads which results a master before this one printed. A
// record of a task this run does not have is not believed.
func (r *runState) loadPrinted(ctx context.Context) error {
	return r.retry.do(ctx, "read the printed results", time.Minute, func(ctx context.Context) error {
		keys, err := r.kv.Keys(ctx, jetstream.MetaOnly())
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil
		}
		for _, key := range keys {
			idText, ok := strings.CutPrefix(key, "printed.")
			if id, err := strconv.Atoi(idText); ok && err == nil && id >= 0 && id < r.tasks {
				r.printed[id] = true
			}
		}
		return err
	})
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
		// Say so first: a master that dies now leaves a run that its
		// successor deletes, not one that it resumes.
		_, err := r.kv.Put(ctx, "run", []byte(r.describe()+finished))
		if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
			return err
		}
		for _, stream := range []string{taskStream, resultStream} {
			if err := r.js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return err
			}
		}
		err = r.js.DeleteKeyValue(ctx, runBucket)
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
