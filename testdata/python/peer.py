"""One end of a multiprocessing.connection, for pyconn_test.go.

peer.py client PORT AUTHKEY   connects to 127.0.0.1:PORT
peer.py listen AUTHKEY        listens on a free port and prints
                              "listening on PORT", then takes one connection

Either way, once the handshake is done, it prints "connected", then sends
back ('echo', value) for each value it receives, until it receives 'bye'.
A failed handshake prints the error and exits 1.
"""
import sys
from multiprocessing.connection import AuthenticationError, Client, Listener


def main():
    try:
        if sys.argv[1] == 'client':
            conn = Client(('127.0.0.1', int(sys.argv[2])), authkey=sys.argv[3].encode())
        else:
            listener = Listener(('127.0.0.1', 0), authkey=sys.argv[2].encode())
            print('listening on %d' % listener.address[1], flush=True)
            conn = listener.accept()
    except AuthenticationError as e:
        print('AuthenticationError: %s' % e, flush=True)
        return 1
    print('connected', flush=True)
    while True:
        value = conn.recv()
        if value == 'bye':
            return 0
        conn.send(('echo', value))


if __name__ == '__main__':
    sys.exit(main())
