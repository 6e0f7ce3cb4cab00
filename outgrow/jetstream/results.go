// The master's side of the result queue: every result in the stream, from
// its start, so that a restarted master sees the results that came while it
// was down.

package main

import (
	"context"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// maxResult is the longest result the master prints, in bytes, as in the
// main program.
const maxResult = 1024

// A result is a worker's answer to one task.
type result struct {
	id        int
	text      string
	delivered int // how many times its task was delivered
}

// resultFeed delivers the stream's results on c, in the order they came.
type resultFeed struct {
	c    chan result
	stop func()
}

// results reads the result stream with an ordered consumer: the server
// keeps no state for it, and a master started again reads from the start.
func (r *runState) results(ctx context.Context) (*resultFeed, error) {
	consumer, err := r.js.OrderedConsumer(ctx, resultStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	feed := &resultFeed{c: make(chan result, 1024)}
	done := make(chan struct{})
	consume, err := consumer.Consume(func(msg jetstream.Msg) {
		id, err := strconv.Atoi(msg.Headers().Get(taskIDHeader))
		if err != nil || id < 0 || id >= r.tasks || len(msg.Data()) > maxResult {
			return // not the answer to any task of this run
		}
		delivered, _ := strconv.Atoi(msg.Headers().Get(deliveredHdr))
		select {
		case feed.c <- result{id: id, text: string(msg.Data()), delivered: delivered}:
		case <-done:
		}
	})
	if err != nil {
		return nil, err
	}
	feed.stop = func() { close(done); consume.Stop() }
	return feed, nil
}
