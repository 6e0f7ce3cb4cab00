"""A worker for the tests: it takes tasks from a BaseManager master and
puts results, as in section 分布式进程, with the address, key and counts as
flags.
"""
import argparse
import queue
import sys
import time
from multiprocessing.managers import BaseManager


class QueueManager(BaseManager):
    pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=5000)
    parser.add_argument('--authkey', default='hello world')
    parser.add_argument('--tries', type=int, default=10)
    parser.add_argument('--timeout', type=float, default=1)
    parser.add_argument('--work', type=float, default=1)
    args = parser.parse_args()

    QueueManager.register('get_task_queue')
    QueueManager.register('get_result_queue')
    print('Connect to server %s...' % args.host, flush=True)
    m = QueueManager(address=(args.host, args.port),
                     authkey=args.authkey.encode())
    m.connect()
    task = m.get_task_queue()
    result = m.get_result_queue()

    for _ in range(args.tries):
        try:
            n = task.get(timeout=args.timeout)
            print('run task %d * %d...' % (n, n), flush=True)
            time.sleep(args.work)
            result.put('%d * %d = %d' % (n, n, n * n))
        except queue.Empty:
            print('task queue is empty.', flush=True)

    print('worker exit.', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
