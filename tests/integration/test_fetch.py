# SPDX-License-Identifier: ISC
"""test_fetch - [fetch] accounts: facteur-smtpd's fetch role brings the
mail of remote mailboxes home, against facteur's own IMAPS and POP3S as
the remote (the same instance: remote@, pop@, keep@ and bad@ are users
whose Maildirs play the provider's fallback mailbox; alice@ is home).

Checked: IMAPS (delete mode) and POP3S (delete mode) fetch everything
once, byte for byte, and empty the remote; keep mode leaves the remote
as it is and fetches nothing twice over many polls; new mail is picked
up at the next poll; a restart of smtpd fetches nothing again; SIGTERM
(120 messages) or SIGKILL (150) of smtpd in the middle of a fetch, then
a restart: nothing lost, nothing twice (the queue takes each fetched
message once: MAIL FROM:<> ONCE=KEY, state_dir/queue/once); ONCE= is
refused from anyone but the fetch role, and a key seen before, even
across a restart, is answered 250 and not queued again; an untrusted
certificate fetches nothing and the log says why; the password is never
logged.  A fetched message has one Return-Path, ours (<>), whatever it
had: its own (none, one, two, folded) are kept as X-Original-Return-Path,
a body line is left alone."""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
import relay_fixtures as rf  # noqa: E402

ALICE = 'alice@example.org'
REMOTE, POP, KEEP, BAD = ('remote@example.org', 'pop@example.org',
                          'keep@example.org', 'bad@example.org')
PASS = 'fetch remote pw 1'
env = ft.Env()
IMAPS, POP3S, SMTP = env.port(), env.port(), env.port()


def deliver(addr, tag, body=None):
    """A message into addr's Maildir (tmp/ then new/); returns its bytes."""
    raw = (f'From: <x@provider.test>\nTo: <{addr}>\nSubject: {tag}\n'
           f'Message-ID: <{tag}@provider.test>\n\n'
           + (body or f'body of {tag}\n.leading dot\n..two\n'))
    env.put_message(addr, raw)
    return raw.encode()


def count(addr):
    d = env.mail_dir(addr)
    return sum(len(os.listdir(os.path.join(d, s))) for s in ('new', 'cur')
               if os.path.isdir(os.path.join(d, s)))


def home_msgs():
    """alice's messages without the Received line smtpd puts on top."""
    out = []
    for raw in env.messages(ALICE):
        out.append(re.sub(rb'^(Return-Path|Delivered-To): .*\n', b'',
                          re.sub(rb'^Received: .*\n(\t.*\n)*', b'', raw,
                                 flags=re.M), flags=re.M))
    return out


def subjects():
    s = []
    for m in home_msgs():
        g = re.search(rb'^Subject: (.*)$', m, re.M)
        s.append(g.group(1).decode() if g else '?')
    return s


def wait_for(cond, timeout=30.0, step=0.2):
    return ft.wait_for(cond, timeout, step)


def secret(name):
    p = env.path(name)
    with open(p, 'w', encoding='utf-8') as f:
        f.write(PASS + '\n')
    os.chmod(p, 0o600)
    env.chown(p)
    return p


def setup():
    pki = rf.make_pki(env.tls_dir)
    for p in pki.values():
        env.chown(p)
    pw = secret('remote.secret')
    ca = env.cert or env.make_cert()[0]
    acc = [f'imaps://remote%40example.org@localhost:{IMAPS}/INBOX {ALICE} '
           f'password_file={pw} ca_file={ca} interval=2s',
           f'pop3s://pop%40example.org@localhost:{POP3S} {ALICE} '
           f'password_file={pw} ca_file={ca} interval=2s',
           f'imaps://keep%40example.org@localhost:{IMAPS} {ALICE} '
           f'password_file={pw} ca_file={ca} interval=2s keep=yes',
           f'imaps://bad%40example.org@localhost:{IMAPS} {ALICE} '
           f'password_file={pw} ca_file={pki["ca.pem"]} interval=1h',
           f'imaps://noca%40example.org@localhost:{IMAPS} {ALICE} '
           f'password_file={pw} ca_file={env.path("no-ca.pem")} '
           f'interval=1h']
    env.write_config(smtp={'listen': f'127.0.0.1:{SMTP}'},
                     imap={'listen': f'127.0.0.1:{IMAPS}'},
                     pop3={'listen': f'127.0.0.1:{POP3S}'},
                     fetch={'account': acc})
    for u in (ALICE, REMOTE, POP, KEEP, BAD):
        env.add_user(u, PASS)


def test_first_poll():
    want = {}
    for i in range(5):
        want[f'imap-{i}'] = deliver(REMOTE, f'imap-{i}')
    for i in range(3):
        want[f'pop-{i}'] = deliver(POP, f'pop-{i}')
    for i in range(2):
        want[f'keep-{i}'] = deliver(KEEP, f'keep-{i}')
    deliver(BAD, 'bad-0')
    deliver(REMOTE, 'toolong', body='y' * 2000 + '\n')
    deliver(POP, 'toolong-pop', body='y' * 2000 + '\n')
    env.start('authd')
    env.start('imapd', ports=[IMAPS, POP3S])
    env.start('smtpd', ports=[SMTP])
    ft.check(wait_for(lambda: count(ALICE) >= 10), 'all 10 fetched',
             (count(ALICE), subjects()))
    time.sleep(5)           # two more polls of each account
    got = home_msgs()
    ft.check(len(got) == 10, 'nothing twice over later polls', subjects())
    tops = [re.search(rb'^Received: .*\n(\t.*\n)*', raw, re.M)
            for raw in env.messages(ALICE)]
    ft.check(all(t and b'fetched from a remote mailbox' in t.group(0) and
                 b'facteur-sendmail' not in t.group(0) for t in tops),
             'our Received line says the message was fetched',
             [t.group(0) if t else None for t in tops][:2])
    ft.check(sorted(got) == sorted(want.values()), 'byte for byte',
             (got[:1], list(want.values())[:1]))
    ft.check(wait_for(lambda: count(REMOTE) == 1, 10), 'IMAP remote emptied '
             'but for the message the queue refused', count(REMOTE))
    log = env.daemons['smtpd'].log_text()
    ft.check(log.count('refused: queue: 500 5.5.2 Line too long') == 2,
             'a refused message is logged once and left on the server',
             log[-2000:])
    ft.check(count(POP) == 1, 'POP3 remote emptied but for the refused '
             'message, also after later polls', count(POP))
    ft.check(count(KEEP) == 2, 'keep=yes leaves the remote alone')
    ft.check(count(BAD) == 1 and 'bad-0' not in subjects(),
             'untrusted certificate: nothing fetched')
    log = env.daemons['smtpd'].log_text()
    ft.check(re.search(r'account=bad@example.org@localhost .*(certificate|'
                       r'verify)', log), 'the log says why', log[-3000:])
    ft.check(PASS not in log, 'no password in the log')
    ft.check(re.search(r'account=noca@example.org@localhost cannot load CA '
                       r'file \S*no-ca.pem: No such file or directory', log),
             'a CA file it cannot open: the log says why', log[-3000:])


def test_next_poll_and_restart():
    deliver(REMOTE, 'later-0')
    deliver(POP, 'later-1')
    ft.check(wait_for(lambda: count(ALICE) == 12, 20), 'new mail at the next '
             'poll', subjects())
    env.stop('smtpd')
    env.start('smtpd', ports=[SMTP])
    time.sleep(6)
    ft.check(count(ALICE) == 12, 'a restart fetches nothing again',
             subjects())


def _rp_msg(addr, tag, head):
    env.put_message(addr, f'{head}From: <x@provider.test>\nTo: <{addr}>\n'
                    f'Subject: {tag}\nMessage-ID: <{tag}@provider.test>\n\n'
                    'Return-Path: <body@provider.test>\n')


def test_return_path():
    """Fetched with MAIL FROM:<> (never a bounce to a sender the remote
    may not have checked): the only Return-Path is ours, <>; the
    remote's, written at its final delivery, is renamed, not stacked
    (RFC 5321 4.4), so the original sender stays readable."""
    one = 'Return-Path: <a@provider.test>\n'
    two = 'Return-Path: <b@provider.test>\nreturn-path:\n <c@provider.test>\n'
    want = {'rp-none': [],
            'rp-one': [b'X-Original-Return-Path: <a@provider.test>'],
            'rp-two': [b'X-Original-Return-Path: <b@provider.test>',
                       b'X-Original-return-path:', b' <c@provider.test>'],
            'rp-pop': [b'X-Original-Return-Path: <b@provider.test>',
                       b'X-Original-return-path:', b' <c@provider.test>']}
    before = count(ALICE)
    _rp_msg(REMOTE, 'rp-none', '')
    _rp_msg(REMOTE, 'rp-one', one)
    _rp_msg(REMOTE, 'rp-two', two)
    _rp_msg(POP, 'rp-pop', two)
    ft.check(wait_for(lambda: count(ALICE) == before + 4, 20),
             'all four fetched', subjects())
    for raw in env.messages(ALICE):
        tag = re.search(rb'^Subject: (rp-\w+)$', raw, re.M)
        if not tag:
            continue
        tag = tag.group(1).decode()
        head, _, body = raw.partition(b'\n\n')
        lines = head.split(b'\n')
        rp = [ln for ln in lines if ln.lower().startswith(b'return-path:')]
        ft.check(rp == [b'Return-Path: <>'], f'{tag}: one Return-Path, '
                 'ours', head)
        orig = [ln for i, ln in enumerate(lines) if
                ln.startswith(b'X-Original-') or
                (ln.startswith(b' ') and i and
                 lines[i - 1].startswith(b'X-Original-'))]
        ft.check(orig == want[tag], f'{tag}: its own kept renamed', head)
        ft.check(body == b'Return-Path: <body@provider.test>\n',
                 f'{tag}: the body untouched', body)


def _stop_during_fetch(how, n):
    """Deliver n messages to the remote, start smtpd, stop it (how) while
    it fetches, start it again; returns (tags, fetched before the stop)."""
    tags = [f'{how}-{i:03d}' for i in range(n)]
    env.stop('smtpd')
    for t in tags:
        deliver(REMOTE, t, body=f'{t}\n' + ('x' * 99 + '\n') * 20)
    env.start('smtpd', ports=[SMTP])
    before = count(ALICE)
    wait_for(lambda: count(ALICE) >= before + n // 3, 60, 0.05)
    if how == 'kill':
        env.kill_group('smtpd', signal.SIGKILL)
    else:
        env.stop('smtpd')
    mid = count(ALICE) - before
    env.start('smtpd', ports=[SMTP])
    ft.check(wait_for(lambda: count(ALICE) >= before + n, 120),
             f'{how}: all fetched after the restart', (mid, count(ALICE)))
    time.sleep(5)
    ft.check(wait_for(lambda: count(REMOTE) == 1, 20), f'{how}: remote '
             'emptied', count(REMOTE))
    return tags, mid


def _check_once(how, tags, mid):
    s = subjects()
    lost = [t for t in tags if s.count(t) == 0]
    dup = [t for t in tags if s.count(t) > 1]
    ft.check(not lost, f'{how} after {mid}: nothing lost', lost[:10])
    ft.check(not dup, f'{how}: nothing twice', dup)


def test_sigterm_restart():
    _check_once('SIGTERM', *_stop_during_fetch('term', 120))


def test_sigkill_restart():
    _check_once('SIGKILL', *_stop_during_fetch('kill', 150))


# one SMTP transaction over run_dir/smtpd.sock, as the uid it runs as;
# prints the reply of each command, one per line (a '>' argument is a
# DATA line: sent without '>', no reply awaited)
_TALK = r'''
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile('rb')
def reply():
    while True:
        l = f.readline().decode()
        if len(l) < 4 or l[3] != '-':
            return l.strip()
print(reply())
for c in sys.argv[2:]:
    s.sendall(c[1:].encode() if c[:1] == '>' else c.encode())
    s.sendall(b'\r\n')
    if c[:1] != '>':
        print(reply())
'''


def talk(uid, *cmds):
    """The replies to cmds on smtpd.sock, the client running as uid."""
    r = subprocess.run([sys.executable, '-c', _TALK,
                        os.path.join(env.run_dir, 'smtpd.sock'), *cmds],
                       capture_output=True, text=True, timeout=30,
                       user=uid if os.getuid() == 0 else None)
    return r.stdout.splitlines()


def logs():
    out = ''
    for n in os.listdir(env.log_dir):
        with open(os.path.join(env.log_dir, n), errors='replace') as f:
            out += f.read()
    return out


def fetch_uid():
    """The fetch role's uid, from the log line of a session it opened."""
    m = re.search(r'addr=uid=(\d+) qid=\w+ from=<> ', logs())
    return int(m.group(1)) if m else None


def test_once_key():
    key = 'feedc0de' * 4
    msg = ['EHLO facteur-fetch', f'MAIL FROM:<> ONCE={key}',
           f'RCPT TO:<{ALICE}>', 'DATA',
           '>Subject: once-key', '>', '>only once', '.', 'QUIT']
    r = talk(os.getuid(), *msg)
    ft.check(os.getuid() == fetch_uid() or
             (len(r) > 2 and r[2].startswith('555')),
             'ONCE= refused from another uid', r)
    uid = fetch_uid()
    ft.check(uid is not None, 'the fetch role\'s uid is in the log')
    before = count(ALICE)
    r1 = talk(uid, *msg)
    r2 = talk(uid, *msg)
    ft.check(len(r1) > 5 and r1[5].startswith('250') and len(r2) > 5 and
             r2[5].startswith('250'), 'a key seen before gets 250', (r1, r2))
    ft.check(wait_for(lambda: count(ALICE) == before + 1, 10) and
             (time.sleep(1) or count(ALICE) == before + 1),
             'and is queued once', count(ALICE) - before)
    env.stop('smtpd')
    env.start('smtpd', ports=[SMTP])
    r3 = talk(uid, *msg)
    time.sleep(1)
    ft.check(len(r3) > 5 and r3[5].startswith('250') and
             count(ALICE) == before + 1, 'and after a restart too',
             (r3, count(ALICE) - before))
    ft.check('fetched before, not queued again' in logs(),
             'the log says so')


def test_password_file_gone():
    """A [fetch] password file that cannot be read: at start a
    configuration error naming the file and line (as [relay]'s), at a
    reload logged with them while the account keeps the running password
    (it used to lose it and be skipped at every poll until a restart)."""
    pw = env.path('remote.secret')
    os.rename(pw, pw + '.away')
    with open(env.conf, encoding='utf-8') as f:
        text = f.read()
    line = next(n for n, x in enumerate(text.split('\n'), 1)
                if x.startswith('account = imaps://remote%40'))
    with open(env.conf, 'w', encoding='utf-8') as f:
        f.write(text.replace('interval=1h', 'interval=2h'))   # a change
    os.kill(env.daemons['smtpd'].proc.pid, signal.SIGHUP)
    want = f'reload: {env.conf}:{line}: [fetch] account remote@example.org@'
    ft.check(wait_for(lambda: want in logs() and 'keeping the running '
                      'password' in logs(), 10),
             'a reload says which account\'s password file it cannot read',
             logs()[-1500:])
    deliver(REMOTE, 'after-gone-0')
    ft.check(wait_for(lambda: 'after-gone-0' in subjects(), 20),
             'the account is still fetched, with the running password',
             logs()[-1500:])
    env.stop('smtpd')
    try:
        env.start('smtpd', ports=[SMTP], wait=10)
        err = 'it started'
        env.stop('smtpd')
    except RuntimeError as e:
        err = str(e)
    ft.check('(exit 1)' in err and f'{env.conf}:{line}: [fetch] account '
             'remote@example.org@' in err and 'remote.secret: No such file'
             in err, 'smtpd does not start without it, and says where', err)
    os.rename(pw + '.away', pw)
    env.start('smtpd', ports=[SMTP])


def main():
    setup()
    ft.run_tests(env, [test_first_poll, test_next_poll_and_restart,
                       test_return_path,
                       test_sigterm_restart, test_sigkill_restart,
                       test_once_key, test_password_file_gone])


if __name__ == '__main__':
    main()
