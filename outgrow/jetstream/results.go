// The master's side of the result queue: every result in the stream, from
// its start, so that a restarted master sees the results that came while it
// was down.

package main

import (
	"context"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"multithreading/internal/queue"
)

// maxResult is the longest result the master prints, in bytes, as in the
// main program.
const maxResult = queue.MaxText

// A result is a worker's answer to one task.
type result struct {
	id        int
	text      string
	delivered int // how many times its task was delivered
}

// resultFeed delivers the stream's results on c, in the order they came.
type resultFeed struct {
	c     chan result
	run   *runState
	done  chan struct{} // closed by stop
	mu    sync.Mutex
	seen  uint64                   // the stream sequence of the last result read; guarded by mu
	reads jetstream.ConsumeContext // the reader now; guarded by mu
}

// results reads the result stream with an ordered consumer: the server
// keeps no state for it, and a master started again reads from the start.
func (r *runState) results(ctx context.Context) (*resultFeed, error) {
	feed := &resultFeed{c: make(chan result, 1024), run: r, done: make(chan struct{})}
	return feed, feed.read(ctx)
}

// read starts reading the results after the last one seen.
func (f *resultFeed) read(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reads != nil {
		f.reads.Stop()
	}
	cfg := jetstream.OrderedConsumerConfig{}
	if f.seen > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, f.seen+1
	}
	return f.run.retry.do(ctx, "read the results", 0, func(ctx context.Context) error {
		consumer, err := f.run.js.OrderedConsumer(ctx, resultStream, cfg)
		if err != nil {
			return err
		}
		f.reads, err = consumer.Consume(f.deliver,
			jetstream.PullMaxBytes(1<<20)) // a megabyte of results buffered, whatever the server allows
		return err
	})
}

// deliver passes a result on, if it answers a task of this run.
func (f *resultFeed) deliver(msg jetstream.Msg) {
	if meta, err := msg.Metadata(); err == nil {
		f.mu.Lock()
		f.seen = max(f.seen, meta.Sequence.Stream)
		f.mu.Unlock()
	}
	id, err := strconv.Atoi(msg.Headers().Get(taskIDHeader))
	if err != nil || id < 0 || id >= f.run.tasks || len(msg.Data()) > maxResult {
		return // not the answer to any task of this run
	}
	delivered, _ := strconv.Atoi(msg.Headers().Get(deliveredHdr))
	select {
	case f.c <- result{id: id, text: queue.Printable(string(msg.Data())), delivered: delivered}:
	case <-f.done:
	}
}

// stalled reports whether the stream holds results the feed has not read,
// and if so reads on from the last one read. A reader can lose its stream
// when a cluster loses the stream's leader, and not always find out: the
// master asks the stream itself before it says that no result came.
func (f *resultFeed) stalled(ctx context.Context) (bool, error) {
	var last uint64
	err := f.run.retry.do(ctx, "look at the results", 0, func(ctx context.Context) error {
		stream, err := f.run.js.Stream(ctx, resultStream)
		if err == nil {
			last = stream.CachedInfo().State.LastSeq
		}
		return err
	})
	f.mu.Lock()
	behind := last > f.seen
	f.mu.Unlock()
	if err != nil || !behind {
		return false, err
	}
	return true, f.read(ctx)
}

// stop ends the feed.
func (f *resultFeed) stop() {
	close(f.done)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads.Stop()
}
