#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_maildir_symlinks - the deliver role does not follow symlinks
planted in a Maildir (issue 16 item 8): with tmp/ or new/ replaced by a
symlink to another directory, nothing is written there, the message stays
queued (deferred), and it is delivered once the Maildir is repaired.
"""

import os
import shutil
import time

import facteur_test as ft
from facteur_test import check, RawSMTP

ALICE = 'alice@example.org'
env = ft.Env()
P1 = env.port()


def send(mark):
    c = RawSMTP(P1)
    c.ehlo()
    code = c.mail_transaction('someone@example.net', [ALICE],
                              f'Subject: {mark}\r\n\r\n{mark}\r\n'.encode())
    c.close()
    return code


def planted(sub):
    """Replace Maildir/sub by a symlink to a fresh directory; return it."""
    md = env.mail_dir(ALICE)
    elsewhere = env.path(f'elsewhere-{sub}')
    os.mkdir(elsewhere)
    os.chmod(elsewhere, 0o777)
    shutil.rmtree(os.path.join(md, sub))
    os.symlink(elsewhere, os.path.join(md, sub))
    return elsewhere


def repair(sub):
    md = env.mail_dir(ALICE)
    os.unlink(os.path.join(md, sub))
    os.mkdir(os.path.join(md, sub), 0o700)
    st = os.stat(md)
    os.chown(os.path.join(md, sub), st.st_uid, st.st_gid)


def test_symlinked_subdirs():
    send('first')
    check(env.wait_message(ALICE, 'first'), 'a first message is delivered')
    for sub in ('tmp', 'new'):
        elsewhere = planted(sub)
        mark = f'through-{sub}'
        before = env.daemons['smtpd'].log_text().count('status=deferred')
        send(mark)
        deadline = time.time() + 20     # until this delivery was tried
        while env.daemons['smtpd'].log_text().count('status=deferred') \
                <= before and time.time() < deadline:
            time.sleep(0.1)
        check(os.listdir(elsewhere) == [],
              f'{sub}/ is a symlink: nothing written where it points',
              os.listdir(elsewhere))
        log = env.daemons['smtpd'].log_text()
        check(log.count('status=deferred') > before and mark not in
              b''.join(env.messages(ALICE, subdirs=('cur',))).decode(),
              f'{sub}/ is a symlink: the delivery is deferred')
        repair(sub)
        os.rmdir(elsewhere)
        r = env.tool('ctl', 'queue', 'flush')
        check(env.wait_message(ALICE, mark, timeout=15),
              f'{sub}/ repaired: the message arrives', r.stderr)


env.write_config(domains='example.org',
                 smtp={'listen': [f'127.0.0.1:{P1}'], 'timeout': '5s'},
                 queue={'retry': '1s', 'max_retry': '2s', 'expire': '1h'})
env.add_user(ALICE, 'pw alice')
env.start('authd')
env.start('smtpd', ports=[P1])
ft.run_tests(env, [test_symlinked_subdirs])
