"""Pickles made and read by the real Python, for pickle_test.go.

pickles.py dump: for each value below and each protocol from 2 up, a line
"NAME PROTOCOL HEX"; protocol "mp" is what multiprocessing.connection sends.

pickles.py load: for each line "NAME HEX" on stdin, a line "NAME DESCRIPTION
HEX": what Python read, described with the types of its parts, and that
value pickled again as multiprocessing.connection would send it.
"""
import pickle
import queue
import sys
from multiprocessing.reduction import ForkingPickler

shared = 'a str that appears twice'

VALUES = {
    'none': None,
    'true': True,
    'false': False,
    'zero': 0,
    'int255': 255,
    'int256': 256,
    'int65535': 65535,
    'int65536': 65536,
    'minus1': -1,
    'int32min': -2**31,
    'int32max': 2**31 - 1,
    'int2pow31': 2**31,
    'int64max': 2**63 - 1,
    'int64min': -2**63,
    'square': 3037000499 * 3037000499,
    'float': 1.5,
    'floatneg': -2.25e-300,
    'floatinf': float('inf'),
    'str': 'hello',
    'strempty': '',
    'strutf8': 'ü 分布式进程',
    'strlong': 'x' * 300,
    'bytes': b'\x00\xff',
    'bytesempty': b'',
    'byteslong': b'y' * 300,
    'tuple0': (),
    'tuple1': (1,),
    'tuple2': (1, 'b'),
    'tuple3': (1, 'b', None),
    'tuple4': (1, 'b', None, 2.5),
    'list0': [],
    'list1': [7],
    'list1500': list(range(1500)),
    'dict0': {},
    'dict1': {'timeout': 1},
    'dict1500': {'k%d' % i: i for i in range(1500)},
    'dictkeys': {1: 'int', (1, 'a'): 'tuple', None: 'none', b'b': 'bytes'},
    'nested': [(1, [2, {'a': (3,)}]), {}],
    'shared': (shared, shared, [shared]),
    'dummy': (None, 'dummy', (), {}),
    'get': ('7f0123456789', 'get', (), {'timeout': 1}),
    'put': ('7f0123456789', 'put', ('2201 * 2201 = 4844401',), {}),
    'return': ('#RETURN', None),
    'returntask': ('#RETURN', 2201),
    'created': ('#RETURN', ('7f0123456789', ('empty', 'full', 'get'))),
    'empty': ('#ERROR', queue.Empty()),
    'runtimeerror': ('#ERROR', RuntimeError('boom')),
    'valueerror': ('#ERROR', ValueError('bad', 2)),
    'keyerror': ('#ERROR', KeyError('nosuchid')),
    'traceback': ('#TRACEBACK', 'Traceback (most recent call last):\n  ...\nKeyError: None\n'),
}


def describe(v):
    """repr, but with the module and class of every exception."""
    if isinstance(v, BaseException):
        return '%s.%s%s' % (type(v).__module__, type(v).__qualname__, describe(v.args))
    if isinstance(v, tuple):
        inner = ', '.join(describe(x) for x in v)
        return '(%s%s)' % (inner, ',' if len(v) == 1 else '')
    if isinstance(v, list):
        return '[%s]' % ', '.join(describe(x) for x in v)
    if isinstance(v, dict):
        return '{%s}' % ', '.join('%s: %s' % (describe(k), describe(x)) for k, x in v.items())
    return repr(v)


def main():
    if sys.argv[1] == 'dump':
        for name, value in VALUES.items():
            for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
                print(name, protocol, pickle.dumps(value, protocol).hex())
            print(name, 'mp', bytes(ForkingPickler.dumps(value)).hex())
    else:
        for line in sys.stdin:
            name, data = line.split()
            value = pickle.loads(bytes.fromhex(data))
            print(name, bytes(ForkingPickler.dumps(value)).hex(), describe(value))


if __name__ == '__main__':
    main()
