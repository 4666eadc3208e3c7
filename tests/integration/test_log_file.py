# SPDX-License-Identifier: ISC
"""test_log_file - `log = /path/file` (README "Receiving mail"): daemons
started without -d detach and append their lines to that file, each line
dated (RFC 3339, local time), since unlike syslog or the journal nothing
else dates them there; the same lines on stderr (-d) stay undated."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

env = ft.Env()
LOG = env.path('facteur.log')
SMTP = env.port()
DATED = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d) '
                   r'(authd|smtpd)[-\w]*\[\d+\]: ')


def log_lines():
    try:
        with open(LOG, encoding='utf-8', errors='replace') as f:
            return f.read().splitlines()
    except OSError:
        return []


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def stop_detached():
    pids = []
    for name in ('smtpd', 'authd'):
        try:
            pid = int(open(os.path.join(env.run_dir, f'{name}.pid')).read())
            os.kill(pid, signal.SIGTERM)
            pids.append(pid)
        except (OSError, ValueError):
            pass
    ft.wait_for(lambda: not any(alive(p) for p in pids), 10)


def test_dated_lines():
    env.write_config(log=LOG, smtp={'listen': [f'127.0.0.1:{SMTP}']})
    env.add_user('alice@example.org', 'secret pw')
    before = time.time()
    for name in ('authd', 'smtpd'):
        r = env.tool(name, timeout=30)  # no -d: detaches once ready
        check(r.returncode == 0, f'facteur-{name} detaches, exit 0',
              r.stdout + r.stderr)
    check(ft.wait_port(SMTP, 10), 'smtpd listens')
    c = ft.RawSMTP(SMTP)
    c.ehlo()
    c.mail_transaction('a@example.net', ['alice@example.org'],
                       b'Subject: dated\r\n\r\nhi\r\n')
    c.close()
    ft.wait_for(lambda: any('status=sent' in ln for ln in log_lines()), 10)
    # a new `log` waits for the next start, and the reload says so where
    # the lines still go
    env.write_config(log=env.path('other.log'),
                     smtp={'listen': [f'127.0.0.1:{SMTP}']})
    os.kill(int(open(os.path.join(env.run_dir, 'smtpd.pid')).read()),
            signal.SIGHUP)
    ft.wait_for(lambda: any('takes effect at the next start' in ln
                            for ln in log_lines()), 10)
    check(any('reload: log = ' + env.path('other.log') +
              ' takes effect at the next start' in ln for ln in log_lines())
          and not os.path.exists(env.path('other.log')),
          'a reload with a new log: said in the old one, nothing moved',
          log_lines()[-5:])
    stop_detached()
    lines = log_lines()
    check(any('authd[' in ln for ln in lines) and
          any('smtpd-deliver[' in ln and 'status=sent' in ln
              for ln in lines),
          'authd and the smtpd roles write to the log file', lines[-20:])
    check(any('ready: 1 smtp port and smtpd.sock,' in ln for ln in lines),
          'smtpd counts the ports of the configuration (one), not the '
          'local socket', [ln for ln in lines if 'ready' in ln])
    undated = [ln for ln in lines if not DATED.match(ln)]
    check(lines and not undated, 'every line starts with its date',
          undated[:5])
    stamps = []
    for ln in lines:
        m = DATED.match(ln)
        if m:
            t = time.mktime(time.strptime(m.group(1)[:19],
                                          '%Y-%m-%dT%H:%M:%S'))
            stamps.append(t)
    check(stamps and all(before - 2 <= t <= time.time() + 2
                         for t in stamps),
          'the dates are now, in local time', (before, stamps[:3]))


def test_stderr_undated():
    env.write_config(smtp={'listen': [f'127.0.0.1:{SMTP}']})
    d = env.start('authd')
    env.stop('authd')
    text = d.log_text()
    check('authd[' in text and not re.search(r'^\d{4}-\d\d-\d\dT', text,
                                             re.M),
          'with -d (stderr, the journal dates it) lines are undated',
          text[-500:])


ft.run_tests(env, [test_dated_lines, test_stderr_undated])
