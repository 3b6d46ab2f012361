#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# testvm/serial-listener.py - receive the test VM's serial console (ttyS0).
#
# Bochs runs with "com1: mode=socket-client, dev=127.0.0.1:PORT" and connects
# to this listener, which must be up first. It binds a free port on 127.0.0.1,
# writes the port number to --port-file, accepts one connection, and copies
# every byte (with CRs dropped) to --log and, live, to stdout. When the
# guest's end line "<marker> status=N ..." passes, it is written to
# --end-file so that boot.sh knows the script is done. With --stamps-file,
# every line starting with one of the --stamp prefixes (and the end line) is
# appended there as "SECONDS LINE", SECONDS the wall time since Bochs
# connected (make check times each test binary so). At exit, --times-file
# gets the wall seconds (since Bochs connected) of the first byte, of the
# --start-marker line and of the end line. With
# --no-echo BEGIN:END, the lines from one starting with BEGIN to one starting
# with END are logged but not echoed. Exits when Bochs closes the connection
# (or on SIGTERM).

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
    ap.add_argument('--times-file', default=None)
    ap.add_argument('--accept-timeout', type=float, default=300.0)
    ap.add_argument('--quiet', action='store_true')
    ap.add_argument('--no-echo', default=None, metavar='BEGIN:END')
    ap.add_argument('--stamps-file', default=None)
    ap.add_argument('--stamp', action='append', default=[], metavar='PREFIX')
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
    start_wall = first_wall = end_wall = None
    out = None if args.quiet else sys.stdout.buffer
    mute_begin = mute_end = None
    if args.no_echo:
        mute_begin, mute_end = (x.encode() for x in args.no_echo.split(':', 1))
    muted = 0           # lines hidden so far in the current section, or 0
    pending = b''       # the incomplete last line
    echoed = 0          # bytes of pending already echoed

    def echo(data):
        nonlocal out
        if out is None or not data:
            return
        try:
            out.write(data)
            out.flush()
        except (BrokenPipeError, OSError):
            out = None

    stamp_prefixes = tuple(p.encode() for p in args.stamp)
    stamps = open(args.stamps_file, 'w') if args.stamps_file else None

    def stamp(now, line):
        if stamps is not None:
            stamps.write('%.1f %s\n' % (now, line.decode('ascii', 'replace')))
            stamps.flush()

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
            pending += data
            lines = pending.split(b'\n')
            pending = lines.pop()
            for line in lines:
                if muted:
                    if mute_end is not None and line.startswith(mute_end):
                        echo(b'[%d lines not shown: see console.log]\n' %
                             (muted - 1))
                        echo(line + b'\n')
                        muted = 0
                    else:
                        muted += 1
                else:
                    echo(line[echoed:] + b'\n')
                    if mute_begin is not None and line.startswith(mute_begin):
                        muted = 1
                echoed = 0
                now = time.monotonic() - t0
                if start is not None and start_wall is None and start in line:
                    start_wall = now
                is_end = marker in line and end_wall is None
                if is_end or (stamp_prefixes and line.startswith(stamp_prefixes)):
                    stamp(now, line)
                if is_end:
                    end_wall = now
                    text = line[line.index(marker):].decode('ascii', 'replace')
                    write_atomic(args.end_file, text + '\n')
            if not muted:
                echo(pending[echoed:])
                echoed = len(pending)
        if pending:
            log.write(b'\n')
            if not muted:
                echo(b'\n')
    if stamps is not None:
        stamps.close()
    if args.times_file:
        write_atomic(args.times_file, ''.join(
            '%s=%.1f\n' % (k, v) for k, v in
            (('first_wall', first_wall), ('start_wall', start_wall),
             ('end_wall', end_wall)) if v is not None))
    return 0


if __name__ == '__main__':
    sys.exit(main())
