"""The tutorial's task_master.py and task_worker.py in one file, with the
worker's sleep and the printing left out, timed from starting the workers to
the last result: python3 testdata/tutorial_queue.py TASKS WORKERS.
The Go port's README compares its throughput with this."""
import queue, sys, time
from multiprocessing import Process
from multiprocessing.managers import BaseManager

task_queue, result_queue = queue.Queue(), queue.Queue()

def get_task_queue():
    return task_queue

def get_result_queue():
    return result_queue

class QueueManager(BaseManager):
    pass

def worker(port):
    QueueManager.register('get_task_queue')
    QueueManager.register('get_result_queue')
    m = QueueManager(address=('127.0.0.1', port), authkey=b'hello world')
    m.connect()
    task, result = m.get_task_queue(), m.get_result_queue()
    while True:
        try:
            n = task.get(timeout=1)
        except queue.Empty:
            return
        result.put('%d * %d = %d' % (n, n, n * n))

if __name__ == '__main__':
    tasks, workers = int(sys.argv[1]), int(sys.argv[2])
    QueueManager.register('get_task_queue', callable=get_task_queue)
    QueueManager.register('get_result_queue', callable=get_result_queue)
    manager = QueueManager(address=('127.0.0.1', 0), authkey=b'hello world')
    manager.start()
    task, result = manager.get_task_queue(), manager.get_result_queue()
    for i in range(tasks):
        task.put(i % 10001)
    ps = [Process(target=worker, args=(manager.address[1],)) for _ in range(workers)]
    start = time.time()
    for p in ps:
        p.start()
    for i in range(tasks):
        result.get(timeout=10)
    elapsed = time.time() - start
    print('%d results in %.2fs (%.0f tasks/s) with %d workers' % (tasks, elapsed, tasks / elapsed, workers))
    for p in ps:
        p.join()
    manager.shutdown()
