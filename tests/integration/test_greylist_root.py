# SPDX-License-Identifier: ISC
"""test_greylist_root - greylisting in the production shape: facteur-smtpd
started as root, the smtp role as user-smtp chrooted in run_dir/authd,
writing state_dir/greylist.db through the handle it opened before the
chroot (smtpd/greylist.c).

Berkeley DB's close used to reopen the file by its path to fsync it, a
path the chroot hides, so every stop and every reload that restarts the
roles logged "greylist: BDB3028 .../greylist.db: unable to flush: No
such file or directory" although nothing was wrong.  Checked here: a
triplet deferred (451) before a reload, and another before a stop, pass
after the delay (250 pass-retry: the record reached the file), and no
line of the log carries a Berkeley DB message ("BDB").

Runs as root only (role accounts `_facgl-*`, kept for the next run, as
test_disk_full); as an ordinary user it checks nothing and says so.
"""

import os
import signal
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

if os.geteuid() != 0:
    print('# not root: the chrooted smtp role cannot be tested here; '
          'nothing checked')
    print('0 passed, 0 failed')
    sys.exit(0)

BASE = '_facgl'
env = ft.root_env(BASE)
P25 = env.port()
BOB = 'bob@example.org'
DELAY = 1


def configure(allow_time='30d'):
    env.write_config(
        hostname='mx.test', domains='example.org',
        smtp={'listen': [f'127.0.0.1:{P25}'], 'timeout': '30s'},
        greylist={'enable': True, 'delay': f'{DELAY}s',
                  'retry_window': '1h', 'allow_time': allow_time})


def first_rcpt(src, sender):
    """The reply to RCPT TO:<bob> from source address src."""
    c = smtplib.SMTP('127.0.0.1', P25, local_hostname='client.test',
                     timeout=20, source_address=(src, 0))
    try:
        c.ehlo('client.test')
        c.mail(sender)
        code, text = c.rcpt(BOB)
        return code, text.decode()
    finally:
        try:
            c.quit()
        except smtplib.SMTPException:
            pass


def bdb_lines():
    return [ln for ln in env.daemons['smtpd'].log_text().splitlines()
            if 'BDB' in ln]


def setup():
    for d in (env.tmp, env.state_dir, env.run_dir):   # root's, as in production
        os.chown(d, 0, 0)
        os.chmod(d, 0o755)
    configure()
    env.make_role_accounts()
    env.add_user(BOB, 'bob pw 1')
    env.start('authd')
    env.start('smtpd', ports=[P25])


def deferred_then_passes(src, sender, between):
    """451 for a new triplet, `between()`, then 250 after the delay."""
    code, text = first_rcpt(src, sender)
    check(code == 451, f'{sender}: first try 451', (code, text))
    t0 = time.time()
    between()
    time.sleep(max(0.0, t0 + DELAY + 0.2 - time.time()))
    code, text = first_rcpt(src, sender)
    check(code == 250, f'{sender}: the record survived, 250 after the delay',
          (code, text))
    log = env.daemons['smtpd'].log_text()
    check(f'greylist=pass-retry from=<{sender}>' in log, 'log: pass-retry',
          log[-1500:])


def test_reload():
    def reload():
        d = env.daemons['smtpd']
        marker = 'SIGHUP: configuration reread; restarting the roles'
        before = d.log_text().count(marker)
        configure(allow_time='29d')     # a change smtpd uses: roles restart
        os.kill(d.proc.pid, signal.SIGHUP)
        deadline = time.time() + 20
        while time.time() < deadline and \
                d.log_text().count(marker) == before:
            time.sleep(0.05)
        check(d.log_text().count(marker) > before,
              'SIGHUP restarts the roles', d.log_text()[-1500:])
    deferred_then_passes('127.0.8.1', 'r@nospf.example', reload)
    bad = bdb_lines()
    check(not bad, 'no Berkeley DB error across a reload as root', bad)


def test_stop():
    def restart():
        env.stop('smtpd')
        bad = bdb_lines()
        check(not bad, 'no Berkeley DB error at a stop as root', bad)
        env.start('smtpd', ports=[P25])
    deferred_then_passes('127.0.9.1', 's@nospf.example', restart)
    st = os.stat(os.path.join(env.state_dir, 'greylist.db'))
    check(st.st_uid != 0 and st.st_mode & 0o777 == 0o600,
          'greylist.db is the smtp role\'s, 0600', (st.st_uid, oct(st.st_mode)))


if __name__ == '__main__':
    ft.main(env, setup, [test_reload, test_stop])
