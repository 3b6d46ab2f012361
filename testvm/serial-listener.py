#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# testvm/serial-listener.py - receive the test VM's serial console (ttyS0).
#
# Bochs runs with "com1: mode=socket-client, dev=127.0.0.1:PORT" and connects
# to this listener, which must be up first. It binds a free port on 127.0.0.1,
# writes the port number to --port-file, accepts one connection, and copies
# every byte (with CRs dropped) to --log and, live, to stdout. When the
# guest's end line "<marker> status=N ..." passes, that line and the time are
# written to --end-file so that boot.sh knows the script is done. Exits when
# Bochs closes the connection (or on SIGTERM).

import argparse
import os
import signal
import socket
import sys
import time


def write_atomic(path, text):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--port-file', required=True)
    ap.add_argument('--log', required=True)
    ap.add_argument('--marker', required=True)
    ap.add_argument('--start-marker', default=None)
    ap.add_argument('--end-file', required=True)
    ap.add_argument('--accept-timeout', type=float, default=300.0)
    ap.add_argument('--quiet', action='store_true')
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)
    write_atomic(args.port_file, '%d\n' % srv.getsockname()[1])

    srv.settimeout(args.accept_timeout)
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        print('serial-listener: Bochs did not connect within %ds' %
              args.accept_timeout, file=sys.stderr)
        return 2
    srv.close()

    t0 = time.monotonic()
    marker = args.marker.encode() + b' status='
    start = args.start_marker.encode() if args.start_marker else None
    start_wall = None
    first_wall = None
    out = None if args.quiet else sys.stdout.buffer
    pending = b''
    with open(args.log, 'wb') as log:
        while True:
            try:
                data = conn.recv(65536)
            except (ConnectionResetError, OSError):
                data = b''
            if not data:
                break
            if first_wall is None:
                first_wall = time.monotonic() - t0
            data = data.replace(b'\r', b'')
            log.write(data)
            log.flush()
            if out is not None:
                try:
                    out.write(data)
                    out.flush()
                except (BrokenPipeError, OSError):
                    out = None
            pending += data
            lines = pending.split(b'\n')
            pending = lines.pop()
            for line in lines:
                now = time.monotonic() - t0
                if start is not None and start_wall is None and start in line:
                    start_wall = now
                if marker in line:
                    text = line[line.index(marker):].decode('ascii', 'replace')
                    write_atomic(args.end_file,
                                 '%s\nfirst_wall=%.1f\nstart_wall=%.1f\n'
                                 'end_wall=%.1f\n' %
                                 (text, first_wall, start_wall or 0.0, now))
    return 0


if __name__ == '__main__':
    sys.exit(main())
