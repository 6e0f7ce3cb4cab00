// The batch worker: --batch N pulls N tasks at a time and prints nothing per
// task, to measure what JetStream's durability costs beside the main
// program's throughput mode (speed_test.go).

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// batchWorker takes tasks batch at a time until the master has finished,
// publishes their results without waiting for each answer, then acks the
// tasks, and prints how many it did.
func batchWorker(ctx context.Context, out io.Writer, cfg workerConfig, batch int) error {
	c, err := connect(ctx, cfg.conn)
	if err != nil {
		return err
	}
	defer c.Close()
	q, err := c.taskQueue(ctx)
	if err != nil {
		return err
	}
	done := 0
	for {
		var msgs []jetstream.Msg
		err := q.retry.do(ctx, "take tasks", cfg.getTimeout, func(ctx context.Context) error {
			b, err := q.consumer.Fetch(batch, jetstream.FetchMaxWait(cfg.getTimeout), jetstream.FetchMaxBytes(batch*maxResult)) // ends within the wait; Ctrl-C does not wait for it
			if err != nil {
				return err
			}
			for m := range b.Messages() {
				msgs = append(msgs, m)
			}
			if err := b.Error(); err != nil || len(msgs) > 0 {
				return err
			}
			return q.stillThere(ctx)
		})
		if errors.Is(err, errNoRun) {
			break
		}
		if err != nil {
			return err
		}
		var acks []jetstream.PubAckFuture
		for _, msg := range msgs {
			t, err := parseTask(msg)
			if err != nil {
				msg.TermWithReason(err.Error())
				continue
			}
			ack, err := c.js.PublishMsgAsync(newResultMsg(t, square(t.n)))
			if err != nil {
				return err
			}
			acks = append(acks, ack)
		}
		// Each task is acked once its result is stored, as the listing does.
		for i, ack := range acks {
			select {
			case <-ack.Ok():
				msgs[i].Ack()
			case err := <-ack.Err():
				if !isPerSubjectLimit(err) {
					return err
				}
				msgs[i].Ack() // the stream had its result already
			case <-time.After(c.retry.rideOut):
				return fmt.Errorf("no answer to a result in %v", c.retry.rideOut)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done += len(acks)
	}
	fmt.Fprintf(out, "worker exit: %d tasks done.\n", done)
	return nil
}
