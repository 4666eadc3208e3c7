# SPDX-License-Identifier: ISC
"""test_backup - the README's "Backups": the two tar lines it prints, run
through /bin/sh (as root in CI, as the README says), against a running
set-up: stop smtpd, tar the configuration, its files, state_dir and the
Maildirs, start smtpd; then everything is lost (daemons stopped, the
directories removed), restored with the second tar line and started
again.

Checked after the restore: the user logs in with the same password, the
alias still delivers, INBOX has the same messages with the same
UIDVALIDITY, UIDs and flags (an IMAP client downloads nothing again), the
DKIM key is the same file, and a message that was waiting in the queue
for an unreachable smarthost is still queued.
"""

import imaplib
import os
import shutil
import smtplib
import ssl
import subprocess

import facteur_test as ft

env = ft.Env()
SMTP, IMAPS, DEAD = env.port(), env.port(), env.port()
ALICE, PW = 'alice@example.org', 'backup test pw 1'


def sh(line, as_admin=True):
    """One shell line: as root when the test is root (the administrator),
    else as the test's user."""
    e = dict(os.environ)
    kw = {} if as_admin else env._user_kw()  # pylint: disable=protected-access
    r = subprocess.run(['/bin/sh', '-c', line], capture_output=True,
                       text=True, timeout=60, cwd=env.tmp, env=e, **kw)
    return r


def setup():
    env.write_config(smtp={'listen': [f'127.0.0.1:{SMTP}']},
                     imap={'listen': [f'127.0.0.1:{IMAPS}']},
                     relay={'host': '127.0.0.1', 'port': str(DEAD),
                            'tls': 'none'},
                     queue={'retry': '1h'})
    env.add_user(ALICE, PW)
    env.add_alias('info@example.org', ALICE)
    r = env.keytool('dkim', 'generate', 'example.org', 'bk', '--ed25519')
    sign = [ln.split('=', 1)[1].strip() for ln in r.stdout.splitlines()
            if ln.strip().startswith('sign = ')]
    with open(env.conf, 'a', encoding='utf-8') as f:
        f.write(f'\n[dkim]\nsign = {sign[0]}\n')
    for d in ('authd', 'smtpd', 'imapd'):
        start(d)


def start(d):
    env.start(d, ports={'smtpd': [SMTP], 'imapd': [IMAPS]}.get(d, []))


def send(rcpt, tag):
    with smtplib.SMTP('127.0.0.1', SMTP, timeout=20) as s:
        s.sendmail('someone@example.net', [rcpt],
                   f'From: someone@example.net\r\nSubject: {tag}\r\n\r\n'
                   f'{tag}\r\n')


def imap():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL('127.0.0.1', IMAPS, ssl_context=ctx, timeout=20)
    m.login(ALICE, PW)
    return m


def inbox_state(m):
    """(UIDVALIDITY, [(uid, flagged)]) of INBOX."""
    m.select('INBOX')
    typ, data = m.status('INBOX', '(UIDVALIDITY)')
    uv = data[0].decode().split('UIDVALIDITY ')[1].rstrip(')')
    typ, data = m.uid('FETCH', '1:*', '(FLAGS)')
    out = []
    for d in data:
        if not d:
            continue
        s = d.decode() if isinstance(d, bytes) else d[0].decode()
        uid = int(s.split('UID ')[1].split()[0].rstrip(')'))
        out.append((uid, '\\Flagged' in s))
    return uv, sorted(out)


def queued():
    r = env.tool('ctl', 'queue', 'list')
    return r.stdout


def test_backup_and_restore():
    for i in range(3):
        send(ALICE, f'kept-{i}')
    send('info@example.org', 'kept-alias')
    ft.check(len(env.wait_message(ALICE, 'kept-', count=4)) == 4, 'mail delivered')
    r = sh(f'echo "Subject: waiting" | {env.binary("sendmail")} '
           f'-C {env.conf} bob@remote.example', as_admin=False)
    ft.check(r.returncode == 0, 'a message for the smarthost queued',
             r.stderr)
    ft.check(ft.wait_for(lambda: 'bob@remote.example' in queued()),
             'it waits in the queue', queued())
    m = imap()
    m.select('INBOX')
    m.uid('STORE', '2', '+FLAGS', '(\\Flagged)')
    before = inbox_state(m)
    m.logout()
    key = os.path.join(env.state_dir, 'dkim', 'example.org.bk.key')
    with open(key, 'rb') as f:
        key_bytes = f.read()

    # the README's backup, with this set-up's paths
    rel = ' '.join(os.path.relpath(p, '/') for p in (
        env.conf, env.tls_dir, env.state_dir, env.mail_root))
    backup = env.path('facteur.tar.gz')
    env.stop('smtpd')
    r = sh(f'tar -C / -czpf {backup} {rel}')
    ft.check(r.returncode == 0, 'tar -czpf', r.stderr)
    start('smtpd')

    # everything lost
    for d in ('imapd', 'smtpd', 'authd'):
        env.stop(d)
    for p in (env.tls_dir, env.state_dir, env.mail_root):
        shutil.rmtree(p)
    os.unlink(env.conf)

    # the README's restore
    r = sh(f'tar -C / -xzpf {backup}')
    ft.check(r.returncode == 0, 'tar -xzpf', r.stderr)
    for d in ('authd', 'smtpd', 'imapd'):
        start(d)
    m = imap()
    after = inbox_state(m)
    m.logout()
    ft.check(after == before and len(after[1]) == 4,
             'same UIDVALIDITY, UIDs and flags', (before, after))
    with open(key, 'rb') as f:
        ft.check(f.read() == key_bytes, 'the same DKIM key')
    ft.check('bob@remote.example' in queued(), 'the queued message is back',
             queued())
    send('info@example.org', 'after-restore')
    ft.check(env.wait_message(ALICE, 'after-restore'),
             'the alias delivers after the restore')


ft.main(env, setup, [test_backup_and_restore])
