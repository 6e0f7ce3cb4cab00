"""A master for the tests: BaseManager serves a task queue and a result
queue, as in section 分布式进程, with the address, key and counts as flags.

With --port 0 it prints "master: listening on HOST:PORT" to stderr. With
--hold it waits, once the results are in, until its stdin closes, so that a
test decides when the master goes away.
"""
import argparse
import queue
import random
import signal
import sys
from multiprocessing.managers import BaseManager

tasks = queue.Queue()
results = queue.Queue()


def get_tasks():
    return tasks


def get_results():
    return results


class QueueManager(BaseManager):
    pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=5000)
    parser.add_argument('--authkey', default='hello world')
    parser.add_argument('--tasks', type=int, default=10)
    parser.add_argument('--results', type=int, default=None,
                        help='how many results to wait for (default: --tasks)')
    parser.add_argument('--timeout', type=float, default=10)
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--hold', action='store_true')
    args = parser.parse_args()

    # SIGTERM ends the master as Ctrl-C would, so that the manager's own
    # process is shut down too, instead of left serving.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    QueueManager.register('get_task_queue', callable=get_tasks)
    QueueManager.register('get_result_queue', callable=get_results)
    manager = QueueManager(address=(args.host, args.port),
                           authkey=args.authkey.encode())
    manager.start()
    try:
        if args.port == 0:
            host, port = manager.address
            print('master: listening on %s:%d' % (host, port),
                  file=sys.stderr, flush=True)
        task = manager.get_task_queue()
        result = manager.get_result_queue()

        rng = random.Random(args.seed)
        for _ in range(args.tasks):
            n = rng.randint(0, 10000)
            print('Put task %d...' % n, flush=True)
            task.put(n)

        print('Try get results...', flush=True)
        wanted = args.tasks if args.results is None else args.results
        for _ in range(wanted):
            try:
                r = result.get(timeout=args.timeout)
            except queue.Empty:
                print('master: no result within %gs' % args.timeout,
                      file=sys.stderr, flush=True)
                return 1
            print('Result: %s' % r, flush=True)

        if args.hold:
            sys.stdin.read()
    finally:
        manager.shutdown()
    print('master exit.', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
