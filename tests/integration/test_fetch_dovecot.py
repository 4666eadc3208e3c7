# SPDX-License-Identifier: ISC
"""test_fetch_dovecot - [fetch] against a real provider: Debian's Dovecot
(imapd and pop3d, a test instance on loopback ports with a certificate of
a test CA) plays the fallback mailbox, facteur-smtpd's fetch role brings
its mail home.

Checked: IMAPS in delete mode and POP3S fetch every message once, byte
for byte (line ends aside), and leave Dovecot's mailbox empty; keep mode
leaves Dovecot's mailbox as it is and fetches nothing twice over several
polls; smtpd killed (SIGKILL) in the middle of a fetch of 200 messages
and started again: every message exactly once; a wrong password fetches
nothing and the log says so, without the password."""

import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
import dovecot_peer  # noqa: E402
import relay_fixtures as rf  # noqa: E402

ALICE = 'alice@example.org'
PASS = 'dovecot side pw 1'
env = ft.Env()
SMTP, DV_IMAPS, DV_POP3S = env.port(), env.port(), env.port()
_seq = [0]
USERS = ('imap', 'pop', 'keep', 'bad')
DVC = None                      # the Dovecot peer, made by setup()


def maildir(user):
    return DVC.maildir(user)


def put(user, tag, body=None):
    """A message into the Dovecot user's Maildir new/; returns its text."""
    _seq[0] += 1
    raw = (f'From: <x@sender.test>\nTo: <{user}@provider.test>\n'
           f'Subject: {tag}\nMessage-ID: <{tag}@sender.test>\n\n'
           + (body or f'body of {tag}\n.leading dot\n..two\n\nend\n'))
    name = f'{int(time.time())}.D{_seq[0]}P{os.getpid()}.test'
    tmp = os.path.join(maildir(user), 'tmp', name)
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(raw)
    os.chown(tmp, DVC.uid, DVC.gid)
    os.rename(tmp, os.path.join(maildir(user), 'new', name))
    return raw


def remote_count(user):
    return sum(len(os.listdir(os.path.join(maildir(user), s)))
               for s in ('new', 'cur'))


def home_msgs():
    """alice's messages, without the trace lines smtpd puts on top."""
    out = []
    for raw in env.messages(ALICE):
        raw = re.sub(rb'^Received: .*\n(\t.*\n)*', b'', raw, flags=re.M)
        out.append(re.sub(rb'^(Return-Path|Delivered-To): .*\n', b'', raw,
                          flags=re.M).decode('utf-8', 'replace'))
    return out


def subjects():
    return [m.group(1) for m in (re.search(r'^Subject: (.*)$', t, re.M)
                                 for t in home_msgs()) if m]


def wait_for(cond, timeout=30.0, step=0.2):
    return bool(ft.wait_for(cond, timeout, step))


def secret(name, text):
    p = env.path(name)
    with open(p, 'w', encoding='utf-8') as f:
        f.write(text + '\n')
    os.chmod(p, 0o600)
    env.chown(p)
    return p


def setup():
    os.makedirs(os.path.join(env.tmp, 'pki'), mode=0o755)
    pki = rf.make_pki(os.path.join(env.tmp, 'pki'))
    os.chmod(pki['ca.pem'], 0o644)
    global DVC
    DVC = dovecot_peer.Dovecot(env, 'dovecot',
                               [f'{u}@provider.test' for u in USERS], PASS,
                               imaps=DV_IMAPS, pop3s=DV_POP3S,
                               cert=pki['good.pem'], key=pki['good.key'])
    if not ft.check(DVC.start(), 'dovecot started', DVC.log()):
        return False
    good, bad = secret('good.secret', PASS), secret('bad.secret', 'wrong')
    ca = pki['ca.pem']

    def acc(url, extra=''):
        return (f'{url} {ALICE} password_file={good} ca_file={ca} '
                f'interval=2s {extra}').strip()
    env.write_config(smtp={'listen': f'127.0.0.1:{SMTP}'}, fetch={'account': [
        acc(f'imaps://imap%40provider.test@localhost:{DV_IMAPS}/INBOX'),
        acc(f'pop3s://pop%40provider.test@localhost:{DV_POP3S}'),
        acc(f'imaps://keep%40provider.test@localhost:{DV_IMAPS}',
            'keep=yes'),
        f'imaps://bad%40provider.test@localhost:{DV_IMAPS} {ALICE} '
        f'password_file={bad} ca_file={ca} interval=1h']})
    env.add_user(ALICE, 'alice pw')
    env.start('authd')
    return True


def test_delete_and_keep():
    sent = {}
    for i in range(5):
        for u in ('imap', 'pop', 'keep'):
            tag = f'{u}-{i}'
            sent[tag] = put(u, tag)
    env.start('smtpd', ports=[SMTP])
    ft.check(wait_for(lambda: len(home_msgs()) >= 15, 30),
             'all 15 messages fetched from Dovecot', subjects())
    ft.check(wait_for(lambda: remote_count('imap') == 0 and
                      remote_count('pop') == 0, 20),
             'IMAP and POP3 accounts emptied on Dovecot',
             (remote_count('imap'), remote_count('pop')))
    time.sleep(5)       # two more polls of every account
    got = {}
    for t in home_msgs():
        m = re.search(r'^Subject: (.*)$', t, re.M)
        if m:
            got.setdefault(m.group(1), []).append(t)
    ft.check(sorted(got) == sorted(sent) and
             all(len(v) == 1 for v in got.values()),
             'each message once, none twice over several polls',
             {k: len(v) for k, v in got.items()})
    same = [k for k in sent if k in got and got[k][0] == sent[k]]
    ft.check(len(same) == len(sent), 'byte for byte (LF form)',
             [k for k in sent if k not in same])
    ft.check(remote_count('keep') == 5, 'keep mode leaves Dovecot as it was',
             remote_count('keep'))


def test_wrong_password():
    logs = ''
    for n in os.listdir(env.log_dir):
        with open(os.path.join(env.log_dir, n), errors='replace') as f:
            logs += f.read()
    lines = re.findall(r'fetch: account=bad@provider\.test@localhost .*', logs)
    ft.check(any('login refused' in l for l in lines) and
             any('fetched=0' in l for l in lines),
             'a wrong password fetches nothing and is logged', lines)
    ft.check(not re.search(r'fetch: .*\bwrong\b', logs),
             'the password is never logged')


def test_sigkill_once():
    n = 200
    env.stop('smtpd')
    tags = [f'kill-{i:03d}' for i in range(n)]
    for t in tags:
        put('imap', t, body=f'{t}\n' + ('y' * 99 + '\n') * 20)
    before = len(home_msgs())
    env.start('smtpd', ports=[SMTP])
    wait_for(lambda: len(home_msgs()) >= before + n // 3, 60, 0.05)
    env.kill_group('smtpd', signal.SIGKILL)
    mid = len(home_msgs()) - before
    env.start('smtpd', ports=[SMTP])
    ft.check(wait_for(lambda: len(home_msgs()) >= before + n, 90),
             'SIGKILL: all fetched after the restart',
             (mid, len(home_msgs()) - before))
    ft.check(wait_for(lambda: remote_count('imap') == 0, 20),
             'SIGKILL: Dovecot emptied', remote_count('imap'))
    time.sleep(3)
    s = subjects()
    lost = [t for t in tags if s.count(t) == 0]
    dup = [t for t in tags if s.count(t) > 1]
    ft.check(not lost and not dup, f'SIGKILL after {mid} of {n}: every '
             'message exactly once', (lost[:5], dup[:5]))


def main():
    if not dovecot_peer.installed('/usr/lib/dovecot/pop3'):
        ft.check(False, 'Dovecot (dovecot-imapd, dovecot-pop3d) is installed')
        sys.exit(ft.summary())
    try:
        if setup():
            ft.run_tests(env, [test_delete_and_keep, test_wrong_password,
                               test_sigkill_once])
        else:
            sys.exit(ft.summary())
    finally:
        if DVC:
            DVC.stop()
            if not os.environ.get('FACTEUR_KEEP'):
                shutil.rmtree(DVC.dir, ignore_errors=True)


if __name__ == '__main__':
    main()
