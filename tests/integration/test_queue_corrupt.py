#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_queue_corrupt - a queue file that does not parse at start is moved
to state_dir/queue/corrupt/ and logged, never deleted (issue 16 item 8);
an empty pool file is still just removed, good files still deliver.
"""

import os
import time

import facteur_test as ft
from facteur_test import check

ALICE = 'alice@example.org'
env = ft.Env()
P1 = env.port()
BAD = {'0123456789abcdef': b'garbage without an end record\n' * 10,
       'fedcba9876543210': b'X' * 200}


def test_corrupt_moved_aside():
    msgdir = os.path.join(env.state_dir, 'queue', 'msg')
    os.makedirs(msgdir, exist_ok=True)
    env.chown(os.path.dirname(msgdir))
    env.chown(msgdir)
    for qid, data in BAD.items():
        with open(os.path.join(msgdir, qid), 'wb') as f:
            f.write(data)
        env.chown(os.path.join(msgdir, qid))
    env.start('smtpd', ports=[P1])
    corrupt = os.path.join(env.state_dir, 'queue', 'corrupt')
    deadline = time.time() + 30     # the queue's start scan (loaded: slow)
    while 'resuming' not in env.daemons['smtpd'].log_text() and \
            time.time() < deadline:
        time.sleep(0.05)
    for qid, data in BAD.items():
        p = os.path.join(corrupt, qid)
        ok = os.path.exists(p)
        check(ok and open(p, 'rb').read() == data,
              f'{qid} moved aside intact', os.listdir(corrupt) if
              os.path.isdir(corrupt) else 'no corrupt/')
        check(not os.path.exists(os.path.join(msgdir, qid)),
              f'{qid} no longer in the queue')
    log = env.daemons['smtpd'].log_text()
    check(log.count('does not parse') == 2 and 'moved to' in log,
          'one log line per file moved', log[-800:])
    c = ft.RawSMTP(P1)
    c.ehlo()
    code, _ = c.mail_transaction('x@example.net', [ALICE],
                                 b'Subject: ok\r\n\r\nmark-ok\r\n')
    c.close()
    check(code == 250 and env.wait_message(ALICE, 'mark-ok'),
          'the queue still works')


env.write_config(domains='example.org',
                 smtp={'listen': [f'127.0.0.1:{P1}'], 'timeout': '5s'})
env.add_user(ALICE, 'pw alice')
env.start('authd')
ft.run_tests(env, [test_corrupt_moved_aside])
