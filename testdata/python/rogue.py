"""A peer that knows the key and misbehaves, for the Go master's tests (distributed_python_test.go).

rogue.py PORT AUTHKEY MODE connects to a master at 127.0.0.1:PORT with
multiprocessing.connection, as a worker's manager does, then sends:
  garbage    bytes that are no pickle;
  code       a pickle that would run code in whoever unpickles it;
  oversized  a length of 512 MiB, and the first MiB of it.
It prints what came back, or "closed" if the master hung up.
"""
import os
import struct
import sys
from multiprocessing.connection import Client


class RunsCode:
    def __reduce__(self):
        return (os.system, ('echo this should never run',))


def main():
    port, authkey, mode = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
    conn = Client(('127.0.0.1', port), authkey=authkey)
    try:
        if mode == 'garbage':
            conn.send_bytes(b'\x80\x04this is no pickle')
        elif mode == 'code':
            conn.send((None, 'dummy', (RunsCode(),), {}))
        elif mode == 'oversized':
            conn._send(struct.pack('!i', 512 << 20) + b'x' * (1 << 20))
        print(conn.recv(), flush=True)
    except (EOFError, ConnectionError):
        print('closed', flush=True)


if __name__ == '__main__':
    sys.exit(main())
