# SPDX-License-Identifier: ISC
"""test_sendmail_ctl - facteur-sendmail and facteur-ctl against a running
facteur-smtpd (issue 5): local submission over run_dir/smtpd.sock, the
sendmail options cron and scripts use, headers added when missing, exit
codes, and the queue seen and steered with facteur-ctl.

Outbound mail cannot leave in this test ([dns] points at a closed port),
so a remote recipient stays in the queue: that is what queue list,
flush and remove are checked on.
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check, split_delivered  # noqa: E402

ALICE = 'alice@example.org'
BOB = 'bob@example.org'

env = ft.Env()
P1 = env.port()
DEAD_DNS = env.port()     # nothing listens here: DNS lookups fail


def sendmail(args, text, rc=0):
    r = env.tool('sendmail', *args, stdin=text)
    return r


def setup():
    env.write_config(
        domains='example.org',
        smtp={'listen': [f'127.0.0.1:{P1}'], 'timeout': '5s'},
        queue={'retry': '1h', 'max_retry': '4h', 'expire': '5d'},
        dns={'resolver': f'127.0.0.1:{DEAD_DNS}'},
        # the test's account may send as its own address and as the NAS
        sendmail={'sender': f'{env.user} {env.user}@example.org '
                            'nas@example.org'})
    env.add_user(ALICE, 'pw alice')
    env.add_user(BOB, 'pw of bob')
    env.add_alias('root@example.org', ALICE)
    env.start('authd')
    env.start('smtpd', ports=[P1])


def test_plain_recipients():
    mark = f'plain-{os.getpid()}'
    r = sendmail([ALICE, 'bob'], f'Subject: {mark}\n\nhello from cron\n.\nafter dot\n')
    check(r.returncode == 0, 'sendmail RCPT...: exit 0', r.stderr)
    for who in (ALICE, BOB):
        found = env.wait_message(who, mark)
        check(len(found) == 1, f'delivered once to {who} (bare "bob" = bob@example.org)',
              len(found))
    msg = env.wait_message(ALICE, mark)
    if msg:
        trace, rest = split_delivered(msg[0])
        check(b'after dot' not in rest,
              'without -i a line with a single dot ends the message', rest)
        for h in (b'From: ', b'Date: ', b'Message-ID: '):
            check(h in rest, f'{h.decode().strip()} added when missing', rest[:400])
        check(b'Received: (facteur-sendmail invoked by uid=' in msg[0],
              'Received names the submitting uid', msg[0][:300])


def test_dash_i_and_from():
    mark = f'dashi-{os.getpid()}'
    body = f'From: Backup <nas@example.org>\nSubject: {mark}\n\nline\n.\nstill body\n'
    r = sendmail(['-i', '-f', 'nas@example.org', '-F', 'ignored', ALICE], body)
    check(r.returncode == 0, 'sendmail -i -f: exit 0', r.stderr)
    found = env.wait_message(ALICE, mark)
    check(len(found) == 1, '-i: delivered once', len(found))
    if found:
        check(found[0].startswith(b'Return-Path: <nas@example.org>\n'),
              '-f sets the envelope sender', found[0][:100])
        check(b'\n.\nstill body\n' in found[0], '-i: a lone dot is data', found[0][-200:])
        check(found[0].count(b'From: ') == 1 and b'From: Backup <nas@example.org>'
              in found[0], 'an existing From is kept, none added', found[0][:500])


def test_dash_t():
    mark = f'dasht-{os.getpid()}'
    body = (f'To: Alice <{ALICE}>\nCc: "Bob, the builder" <{BOB}>\n'
            f'Bcc: root\nSubject: {mark}\n\nsee -t\n')
    r = sendmail(['-t', '-oi'], body)
    check(r.returncode == 0, 'sendmail -t -oi: exit 0', r.stderr)
    env.wait_message(ALICE, mark)
    b = env.wait_message(BOB, mark)
    time.sleep(0.5)       # a duplicate would show up by now
    a = env.find_messages(ALICE, mark)
    check(len(a) == 1, '-t: To and Bcc (alias root -> alice) give alice one copy',
          len(a))
    check(len(b) == 1, '-t: Cc with a quoted comma in the name reaches bob', len(b))
    for m in a + b:
        check(b'\nBcc:' not in m and not m.startswith(b'Bcc:'),
              '-t: the Bcc header is removed', m[:500])


def test_errors():
    r = sendmail([], 'Subject: nobody\n\nx\n')
    check(r.returncode == 1 and 'no recipients' in r.stderr,
          'no recipients: exit 1 with a message', (r.returncode, r.stderr))
    r = sendmail(['-Q', ALICE], 'x\n')
    check(r.returncode == 2 and 'usage' in r.stderr, 'unknown option: exit 2',
          (r.returncode, r.stderr))
    r = sendmail(['nobody-here@example.org'], 'Subject: x\n\nx\n')
    check(r.returncode == 1 and 'nobody-here@example.org' in r.stderr and
          '550' in r.stderr, 'unknown local recipient: exit 1 naming it',
          (r.returncode, r.stderr))
    r = sendmail(['bad address@example.org'], 'x\n')
    check(r.returncode == 1, 'recipient with a space: exit 1', r.stderr)
    # one 36 MiB line, no newline: refused at max_size (35M), not buffered whole
    r = sendmail([ALICE], 'Subject: big\n\n' + 'x' * (36 << 20))
    check(r.returncode == 1 and 'larger than the limit' in r.stderr,
          'a message over max_size (one endless line): exit 1', r.stderr[-300:])


def queue_list():
    r = env.tool('ctl', 'queue', 'list')
    return r.returncode, r.stdout, r.stderr


def test_ctl_queue():
    mark = f'remote-{os.getpid()}'
    r = sendmail(['someone@remote.test'], f'Subject: {mark}\n\nout\n')
    check(r.returncode == 0, 'sendmail to a remote address: exit 0 (queued)',
          r.stderr)
    qid = None
    deadline = time.time() + 15
    out = ''
    while time.time() < deadline:
        rc, out, err = queue_list()
        m = re.search(r'^([0-9a-f]{16}) \d+ .*<[^>]*>$', out, re.M)
        if m and 'someone@remote.test' in out and ('deferred' in out or
                                                   'pending' in out):
            qid = m.group(1)
            if 'deferred' in out:
                break
        time.sleep(0.3)
    check(qid is not None, 'queue list shows the waiting message and recipient',
          out)
    check('deferred' in out and 'attempts=1' in out,
          'queue list says deferred after the first attempt, with why', out)
    r = env.tool('ctl', 'status')
    check(r.returncode == 0 and '1 messages' in r.stdout or '1 message' in r.stdout,
          'status counts the queued message', r.stdout + r.stderr)
    r = env.tool('ctl', 'queue', 'flush')
    check(r.returncode == 0, 'queue flush: exit 0', r.stderr)
    deadline = time.time() + 15
    while True:
        rc, out, _ = queue_list()
        if 'attempts=2' in out or time.time() > deadline:
            break
        time.sleep(0.2)
    check('attempts=2' in out, 'queue flush retried at once (attempts=2)', out)
    r = env.tool('ctl', 'queue', 'remove', '0123456789abcdef')
    check(r.returncode == 1 and 'no such message' in r.stdout + r.stderr,
          'queue remove of an unknown id: exit 1', r.stdout + r.stderr)
    r = env.tool('ctl', 'queue', 'remove', 'nothex')
    check(r.returncode == 1, 'queue remove of a malformed id: exit 1', r.stderr)
    if qid:
        for _ in range(20):
            r = env.tool('ctl', 'queue', 'remove', qid)
            if r.returncode == 0:
                break
            time.sleep(0.5)
        check(r.returncode == 0, 'queue remove ID: exit 0', r.stdout + r.stderr)
        rc, out, _ = queue_list()
        check(qid not in out and '0 messages' in out,
              'the message is gone from the list', out)
        check(not env.queue_files(), 'and from state_dir/queue', env.queue_files())
    r = env.tool('ctl', 'queue', 'bogus')
    check(r.returncode == 2, 'bad ctl usage: exit 2', r.stderr)


def test_ctl_not_allowed():
    """facteur-ctl run by an account that may not use the control socket
    (root only when smtpd started as root; here the socket is the test
    account's): the error says who may, not \"is it running?\" """
    if not env.as_root:
        print('# test_ctl_not_allowed: needs root (another uid)')
        return
    other = 'daemon' if env.user != 'daemon' else 'bin'
    r = subprocess.run([env.binary('ctl'), '-c', env.conf, 'status'],
                       capture_output=True, text=True, timeout=30,
                       user=other, group=other, extra_groups=[], cwd='/',
                       env=dict(os.environ, ASAN_OPTIONS=ft.TOOL_ASAN))
    check(r.returncode == 1 and 'Permission denied' in r.stderr and
          'run it as root' in r.stderr and 'is it running' not in r.stderr,
          'ctl without the right: exit 1, says to run it as root',
          (r.returncode, r.stderr))


def test_smtpd_down():
    # facteur-sendmail with smtpd down: test_sendmail_restart (it waits
    # 15 s for smtpd, then exits 75)
    env.stop('smtpd')
    r = env.tool('ctl', 'status')
    check(r.returncode == 1 and 'facteur-smtpd' in r.stderr,
          'smtpd not running: ctl exits 1 and says so', r.stderr)
    env.start('smtpd', ports=[P1])


def ehlo_size():
    c = ft.RawSMTP(P1)
    try:
        ext = c.ehlo()
    finally:
        c.close()
    return [e for e in ext if e.upper().startswith('SIZE')]


def test_sighup():
    """SIGHUP: a bad file keeps the running configuration, a good one is
    applied (the EHLO SIZE changes) without dropping the listener."""
    d = env.daemons['smtpd']
    deadline = time.time() + 10     # the port listens a moment before
    while 'ready:' not in d.log_text().split('---- start')[-1] and \
            time.time() < deadline:  # the signal handlers are in place
        time.sleep(0.1)
    good = open(env.conf).read()
    with open(env.conf, 'a') as f:
        f.write('\nthis is not a key\n')
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while 'keeping the running configuration' not in d.log_text() and \
            time.time() < deadline:
        time.sleep(0.1)
    check('keeping the running configuration' in d.log_text(),
          'SIGHUP with a bad file: logged, old configuration kept',
          d.log_text()[-600:])
    check(d.alive() and ehlo_size() == ['SIZE 36700160'],
          'still serving with the old max_size', ehlo_size())
    with open(env.conf, 'w') as f:
        f.write(good.replace("timeout = 5s", "timeout = 5s\nmax_size = 1M"))
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    size = None
    while time.time() < deadline:
        try:
            size = ehlo_size()
            if size == ['SIZE 1048576']:
                break
        except (OSError, EOFError, ft.SMTPError):
            pass
        time.sleep(0.2)
    check(size == ['SIZE 1048576'], 'SIGHUP with a good file: new max_size used',
          size)
    # a comment, spacing and a section only other daemons use: the roles
    # stay, and a session opened before goes on
    cur = open(env.conf).read()
    c = ft.RawSMTP(P1)
    c.ehlo()
    marks = d.log_text().count('nothing smtpd uses changed')
    with open(env.conf, 'w') as f:
        f.write('# edited\n' + cur.replace('\n', '  \n', 3) +
                '\n[doctor]\ntimeout = 3s\n')
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and \
            d.log_text().count('nothing smtpd uses changed') == marks:
        time.sleep(0.1)
    check(d.log_text().count('nothing smtpd uses changed') > marks,
          'SIGHUP after a comment and [doctor] change: roles kept',
          d.log_text()[-600:])
    try:
        code, _ = c.cmd('NOOP')
    except (OSError, EOFError, ft.SMTPError) as e:
        code = repr(e)
    check(code == 250, 'a session opened before that reload goes on', code)
    c.close()
    log = d.log_text().split('nothing smtpd uses changed')[-1]
    check('restarting the roles' not in log, 'no role restarted', log[-600:])
    with open(env.conf, 'w') as f:
        f.write(good)
    hups = d.log_text().count('SIGHUP: ')
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while d.log_text().count('SIGHUP: ') == hups and time.time() < deadline:
        time.sleep(0.1)


def main():
    ft.main(env, setup, [
        test_plain_recipients, test_dash_i_and_from, test_dash_t, test_errors,
        test_ctl_queue, test_ctl_not_allowed, test_smtpd_down, test_sighup])


if __name__ == '__main__':
    main()
