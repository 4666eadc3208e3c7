# SPDX-License-Identifier: ISC
"""test_relay_smarthost_ip - a smarthost given as an address is used
without asking DNS.

c-ares 1.18 sends "127.0.0.1" to the resolver as a name.  With DNS down
(here a resolver that swallows every query), every start of the on-demand
relay role waited out c-ares' retries, about 6 s, before it sent anything
to a smarthost on the LAN; the official benchmark's relay figures at one
session under load were half what they should be because of it.

One facteur-smtpd (and authd), [dns] resolver = a UDP socket that never
answers, [relay] host = 127.0.0.1 (then ::1) and a python3-aiosmtpd sink
(relay_fixtures.py); mail submitted with facteur-sendmail.  Checked: the
message reaches the sink within 1.5 s (c-ares' first retry alone is
longer), and the resolver got no query at all.
"""

import functools
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

import relay_fixtures as rf  # noqa: E402

ALICE = 'alice@example.org'

env = ft.Env()
P25, SMART = env.port(), env.port()
Sink = functools.partial(rf.Sink, env, None)
state = {}


def blackhole():
    """a UDP 'resolver' that reads nothing and answers nothing"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    s.setblocking(False)
    return s


def queries():
    n = 0
    while True:
        try:
            state['dns'].recv(4096)
            n += 1
        except BlockingIOError:
            return n


def start(host):
    if 'smtpd' in env.daemons and env.daemons['smtpd'].alive():
        env.stop('smtpd')
    env.write_config(
        smtp={'listen': f'127.0.0.1:{P25}', 'timeout': '30s'},
        relay={'host': host, 'port': SMART, 'tls': 'none', 'verify': False},
        dns={'resolver': f'127.0.0.1:{state["dns"].getsockname()[1]}'},
        sendmail={'sender': f'{env.user} {ALICE}'})
    env.start('smtpd', ports=[P25])


def setup():
    state['dns'] = blackhole()
    state['sink'] = Sink(port=SMART)
    env.write_config(smtp={'listen': f'127.0.0.1:{P25}'})
    env.add_user(ALICE, 'alice pw')
    env.start('authd')


def one(host, marker):
    start(host)
    queries()                   # whatever smtpd's start asked
    t = time.time()
    r = env.tool('sendmail', '-f', ALICE, 'bob@remote.test',
                 stdin=f'From: <{ALICE}>\nTo: <bob@remote.test>\n'
                       f'Subject: {marker}\n\n{marker}\n')
    check(r.returncode == 0, f'{marker}: facteur-sendmail exit 0', r.stderr)
    got = ft.wait_for(lambda: [m for m in list(state['sink'].msgs)
                               if marker.encode() in m['data']], 20)
    took = got[0]['time'] - t if got else None
    check(got and took < 1.5, f'smarthost {host}, DNS down: the message '
          'reaches it within 1.5 s', took)
    check(queries() == 0, f'smarthost {host}: no DNS query was sent')


def test_ipv4():
    one('127.0.0.1', f'v4-{os.getpid()}')


def test_ipv6():
    if not socket.has_ipv6:
        print('# skip: no IPv6', flush=True)
        return
    state['sink'].stop()
    state['sink'] = Sink(host='::1', port=SMART)
    one('::1', f'v6-{os.getpid()}')


def test_stop():
    state['sink'].stop()


if __name__ == '__main__':
    rf.new_loop()
    ft.main(env, setup, [test_ipv4, test_ipv6, test_stop])
