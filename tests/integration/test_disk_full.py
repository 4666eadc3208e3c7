#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_disk_full - a full disk never loses, corrupts or falsely
acknowledges mail, and says so clearly (README "When the disk fills
up", under "Receiving mail").

state_dir (the queue, users.db) and mail_dir are each on a small tmpfs
mounted here; a filler file takes every free block of one of them, then
real clients check what facteur answers, logs and keeps:

- SMTP with the queue's file system full: `452 4.3.1`, never a 250: at
  DATA when the message is known not to fit (SIZE, or no block free),
  else after the final dot; the session goes on; the log names the queue
  (file) and the cause; no queue file is left; freed, the same message
  is accepted and delivered once.
- Delivery with the Maildir's file system full: the message stays queued
  (deferred 452 4.3.1, logged once per retry, not in a loop), nothing in
  new/ cur/ or tmp/; freed, it is delivered once at the next retry.
- IMAP APPEND, COPY and MOVE into a full Maildir: tagged `NO [OVERQUOTA]`
  (as Dovecot: the user can act on it, it is no server bug), nothing
  stored that was refused, nothing refused that was stored, the folders
  SELECT with the same messages; STORE of flags works (a rename); POP3
  RETR and DELE work or fail cleanly, nothing lost.  Mail that came into
  a folder before the disk filled: no UID shown that facteur-uidlist
  lacks.
- Greylisting's database in the full state_dir: smtpd goes on, the
  database opens again afterwards.
- No daemon dies over any of it.

Runs as root only (mount); daemons started as root with the production
privilege drop (role accounts `_facdf-*`, as test_power_cut).  The mounts
are undone at the end, whatever happens.
"""

import asyncio
import atexit
import imaplib
import os
import poplib
import re
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
import relay_fixtures as rf  # noqa: E402
from facteur_test import check  # noqa: E402

if os.geteuid() != 0:
    print('# not root: cannot mount the small file systems a full disk '
          'needs; nothing checked')
    print('0 passed, 0 failed')
    sys.exit(0)

BASE = '_facdf'
env = ft.root_env(BASE)
SMTP = env.port()
IMAPS = env.port()
POP3S = env.port()
ALICE = 'alice@example.org'
BOB = 'bob@example.org'
PW = 'disk full pw'
QFS = env.path('qfs')       # state_dir's file system (the queue)
MFS = env.path('mfs')       # mail_dir's
mounted = []


def mount(path, size):
    os.mkdir(path, 0o755)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size},mode=0755',
                    'tmpfs', path], check=True)
    mounted.append(path)


def unmount_all():
    """Every mount of this test, even after a failure or a SIGTERM (daemons
    still running there killed first; lazy if still busy)."""
    for name, d in env.daemons.items():
        if d.alive():
            env.kill_group(name)
    while mounted:
        p = mounted.pop()
        r = subprocess.run(['umount', p], capture_output=True)
        if r.returncode:
            subprocess.run(['umount', '-l', p], capture_output=True)


atexit.register(unmount_all)
# make check's timeout sends SIGTERM: exit through atexit, unmounting
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def fill(fs, leave=0):
    """Take every free block of fs with fs/filler, then give back leave
    bytes."""
    p = os.path.join(fs, 'filler')
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    chunk = b'\0' * 65536
    try:
        while True:
            os.write(fd, chunk)
    except OSError:
        pass
    try:
        while True:
            os.write(fd, b'\0' * 512)
    except OSError:
        pass
    if leave:
        os.ftruncate(fd, os.fstat(fd).st_size - leave)
    os.close(fd)
    st = os.statvfs(fs)
    check(st.f_bavail * st.f_frsize == leave,
          f'{os.path.basename(fs)} is full but {leave} bytes', st)


def free(fs):
    try:
        os.unlink(os.path.join(fs, 'filler'))
    except FileNotFoundError:
        pass


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def imap(user=ALICE):
    m = imaplib.IMAP4_SSL('127.0.0.1', IMAPS, ssl_context=ctx(), timeout=20)
    m.login(user, PW)
    return m


def big_message(mid, kib=300):
    """A message larger than any recycled queue file (64 KiB), so that
    writing it needs new blocks."""
    line = 'x' * 76 + '\r\n'
    return (f'From: <sender@remote.test>\r\nTo: <{ALICE}>\r\n'
            f'Subject: {mid}\r\nMessage-ID: <{mid}@remote.test>\r\n\r\n' +
            line * (kib * 1024 // 78) + f'END {mid}\r\n')


def log(name):
    return env.daemons[name].log_text()


def alive(*names):
    for n in names:
        check(env.daemons[n].alive(), f'{n} still runs')


def files_in(addr, sub):
    d = os.path.join(env.mail_dir(addr), sub)
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def queued():
    """Queue files holding mail not finished yet (non-empty, not recycled)."""
    return env.queue_files()


def send(mid, kib=300, sender='sender@remote.test'):
    """smtplib: (code, text) of the end of DATA (or of the command that
    refused), the session's NOOP code after it."""
    s = smtplib.SMTP('127.0.0.1', SMTP, timeout=20)
    s.ehlo('client.example.com')
    try:
        s.sendmail(sender, [ALICE], big_message(mid, kib))
        code, text = 250, b''
    except smtplib.SMTPDataError as e:
        code, text = e.smtp_code, e.smtp_error
    except smtplib.SMTPSenderRefused as e:
        code, text = e.smtp_code, e.smtp_error
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
    try:
        noop = s.noop()[0]
        s.quit()
    except (smtplib.SMTPException, OSError):
        noop = None
    return code, text.decode(errors='replace'), noop


def raw_send(mid, kib, size=None):
    """RawSMTP: MAIL (with SIZE=size unless None), RCPT, DATA and, after a
    354, the message; returns (DATA's code, final (code, text), NOOP's
    code)."""
    c = ft.RawSMTP(SMTP, timeout=20)
    c.ehlo()
    opt = f' SIZE={size}' if size is not None else ''
    c.cmd(f'MAIL FROM:<sender@remote.test>{opt}')
    c.cmd(f'RCPT TO:<{ALICE}>')
    code, text = c.cmd('DATA')
    first = code
    if code == 354:
        c.send(ft.dot_stuff(big_message(mid, kib).encode()) + b'.\r\n')
        code, text = c.reply()
    noop = c.cmd('NOOP')[0]
    c.close()
    return first, (code, text), noop


def test_smtp_queue_full():
    """The queue's file system full: 452 4.3.1 before the 354 when it is
    known not to fit (SIZE, or no room at all), else after the final dot,
    never 250; freed, the same message is accepted and delivered exactly
    once."""
    mid = f'qfull-{os.getpid()}'
    before = len(log('smtpd'))
    try:
        fill(QFS)
        for size in (307200, None):
            first, (code, text), noop = raw_send(mid, 300, size)
            check(first == 452 and code == 452 and '4.3.1' in text,
                  f'queue full, SIZE={size}: DATA gets 452 4.3.1, no 354',
                  (first, code, text))
            check(noop == 250, f'queue full, SIZE={size}: the session goes '
                  'on (NOOP 250)', noop)
        t0 = time.time()
        r = env.tool('sendmail', ALICE, stdin=big_message(f'sm-{mid}')
                     .replace('\r\n', '\n'), timeout=60)
        took = time.time() - t0
        check(r.returncode == 75 and '452 4.3.1' in r.stderr,
              'queue full: facteur-sendmail exits 75 with the 452',
              (r.returncode, r.stderr))
        check(took < 10, 'queue full: facteur-sendmail does not retry for '
              '15 s against a full disk', took)
        new = log('smtpd')[before:]
        check(re.search(r'refused: the queue.s file system \(\S+/queue\) '
                        r'is full', new),
              'queue full: the log names the queue and the cause',
              new[-1500:])
        free(QFS)
        fill(QFS, leave=65536)      # room for a little, not for all
        before = len(log('smtpd'))
        first, (code, text), noop = raw_send(mid, 300)
        check(first == 354 and code == 452 and '4.3.1' in text,
              'queue filling up: 452 4.3.1 after the final dot',
              (first, code, text))
        check(noop == 250, 'queue filling up: the session goes on', noop)
        new = log('smtpd')[before:]
        check(re.search(r'queue/msg/\w+ \(the queue.s file system is full\)'
                        r': No space left on device', new),
              'queue filling up: the log names the queue file and the cause',
              new[-1500:])
        code, text, noop = send(mid)    # smtplib, SIZE= as it sends it
        check(code == 452 and '4.3.1' in text,
              'queue filling up: smtplib gets 452 4.3.1', (code, text))
    finally:
        free(QFS)
    check(ft.wait_for(lambda: not queued(), 5),
          'queue full: no half-written queue file is kept', queued())
    check(not env.find_messages(ALICE, mid),
          'queue full: nothing delivered')
    alive('smtpd')
    code, text, _ = send(mid)
    check(code == 250, 'space again: the same message gets 250', (code, text))
    env.wait_message(ALICE, f'END {mid}', 1, 20)
    time.sleep(1.5)     # a second copy would come meanwhile
    got = env.find_messages(ALICE, f'END {mid}')
    check(len(got) == 1, 'space again: delivered exactly once', len(got))


def deferrals(text, mid_qid):
    return len(re.findall(rf'qid={mid_qid} to=<{re.escape(ALICE)}> '
                          r'status=deferred', text))


def test_deliver_maildir_full():
    """The Maildir's file system full: the message waits in the queue,
    nothing half-written in the Maildir, one log line per retry; freed,
    delivered once at the next retry."""
    mid = f'mfull-{os.getpid()}'
    cur_before = files_in(ALICE, 'new') + files_in(ALICE, 'cur')
    before = len(log('smtpd'))
    fill(MFS)
    try:
        code, text, _ = send(mid, 100)
        check(code == 250, 'Maildir full, queue not: 250', (code, text))
        m = re.search(r'queued as (\w+)', text) or \
            re.search(r'qid=(\w+) from=<sender@remote.test>.*queued',
                      log('smtpd')[before:])
        qid = m.group(1) if m else 'NONE'
        ok = ft.wait_for(lambda: deferrals(log('smtpd')[before:], qid) >= 1,
                         10)
        check(ok, 'Maildir full: the delivery is deferred',
              log('smtpd')[before:][-1500:])
        t0 = time.time()
        time.sleep(3)
        n = deferrals(log('smtpd')[before:], qid)
        check(1 <= n <= 3 * (time.time() - t0 + 1),
              'Maildir full: one deferral per retry, not a loop', n)
        line = re.search(rf'qid={qid} to=<[^>]+> status=deferred[^\n]*',
                         log('smtpd')[before:])
        check(line and env.mail_dir(ALICE) in line.group(0) and
              '452 4.3.1' in line.group(0) and
              'No space left on device' in line.group(0),
              'Maildir full: the log names the Maildir and the cause',
              line and line.group(0))
        check(not env.find_messages(ALICE, mid),
              'Maildir full: nothing in new/ or cur/')
        check(files_in(ALICE, 'tmp') == [],
              'Maildir full: tmp/ left clean', files_in(ALICE, 'tmp'))
        check(any(qid in p for p in queued()),
              'Maildir full: the message stays queued', queued())
        check('bounced' not in log('smtpd')[before:],
              'Maildir full: not bounced')
    finally:
        free(MFS)
    got = env.wait_message(ALICE, f'END {mid}', 1, 15)
    check(len(got) == 1, 'space again: delivered at the next retry', len(got))
    time.sleep(1.5)
    check(len(env.find_messages(ALICE, f'END {mid}')) == 1,
          'space again: exactly once')
    check(ft.wait_for(lambda: not queued(), 10), 'space again: queue drained',
          queued())
    check(len(files_in(ALICE, 'new') + files_in(ALICE, 'cur')) ==
          len(cur_before) + 1, 'space again: one file more in the Maildir')
    alive('smtpd')


def append(m, box, flags, msg):
    """APPEND: (OK/NO/BAD, text of the tagged reply)"""
    try:
        typ, data = m.append(box, flags, None, msg.encode())
    except imaplib.IMAP4.error as e:
        return 'BAD', str(e)
    return typ, data[0].decode() if data and data[0] else ''


def mailbox_state(m, box):
    typ, data = m.select(box)
    if typ != 'OK':
        return None
    typ, data = m.uid('FETCH', '1:*', '(FLAGS RFC822.SIZE)')
    out = []
    for d in data:
        if isinstance(d, bytes) and b'UID' in d:
            out.append(d.decode())
    return sorted(out)


def folder_files(addr, folder):
    base = os.path.join(env.mail_dir(addr), '.' + folder) if folder else \
        env.mail_dir(addr)
    out = []
    for sub in ('new', 'cur', 'tmp'):
        try:
            out += [f'{sub}/{n}' for n in os.listdir(os.path.join(base, sub))]
        except FileNotFoundError:
            pass
    return sorted(out)


def test_imap_full():
    """APPEND, COPY, MOVE into a full Maildir: NO [OVERQUOTA] and nothing
    stored, or OK and stored; never NO with the message there; STORE of
    flags on a full disk works or fails without losing flags."""
    m = imap()
    for f in ('Fresh', 'Fresh2'):   # their UID lists do not exist yet
        m.create(f)
    m.select('INBOX')
    inbox = mailbox_state(m, 'INBOX')
    check(inbox and len(inbox) >= 2, 'IMAP: INBOX has the earlier mail',
          inbox)
    m.uid('STORE', '1:*', '+FLAGS', '(\\Seen)')
    inbox = mailbox_state(m, 'INBOX')
    files_before = {f: folder_files(ALICE, f)
                    for f in ('', 'Fresh', 'Fresh2', 'Archive')}
    before = len(log('imapd'))
    fill(MFS)
    try:
        mid = f'append-{os.getpid()}'
        for kib in (100, 4):    # spooled (64 KiB and more), in memory
            typ, text = append(m, 'Archive', '(\\Flagged)',
                               big_message(f'{mid}-{kib}', kib))
            check(typ == 'NO' and '[OVERQUOTA]' in text,
                  f'APPEND {kib} KiB on a full disk: NO [OVERQUOTA]',
                  (typ, text))
            check(folder_files(ALICE, 'Archive') == files_before['Archive'],
                  f'APPEND {kib} KiB refused: nothing left in the folder',
                  folder_files(ALICE, 'Archive'))
        m.select('INBOX')
        moved = 0
        for cmd, box in (('COPY', 'Fresh'), ('MOVE', 'Fresh2')):
            typ, data = m.uid(cmd, '1', box)
            text = data[-1].decode() if data and data[-1] else ''
            after = folder_files(ALICE, box)
            if typ == 'OK':
                moved += cmd == 'MOVE'
                check(len(after) == len(files_before[box]) + 1,
                      f'{cmd} OK on a full disk: the message is there', after)
            else:
                check('[OVERQUOTA]' in text,
                      f'{cmd} on a full disk: NO [OVERQUOTA]', (typ, text))
                check(after == files_before[box],
                      f'{cmd} refused: nothing in {box}', after)
        typ, data = m.uid('STORE', '1:*', '+FLAGS', '(\\Answered)')
        check(typ in ('OK', 'NO'), 'STORE on a full disk answers', typ)
        typ, data = m.uid('STORE', '2', '+FLAGS', '(FullDiskLabel)')
        text = data[-1].decode() if data and data[-1] else ''
        check(typ == 'OK' or '[OVERQUOTA]' in text,
              'STORE of a new keyword on a full disk: OK or NO [OVERQUOTA]',
              (typ, text))
        st = mailbox_state(m, 'INBOX')
        check(st is not None and len(st) == len(inbox) - moved,
              'INBOX still SELECTs with the same messages', (inbox, st))
        check(all('\\Seen' in x for x in st or []),
              'no flag lost on a full disk', st)
        m.logout()
        m = imap()
        st2 = mailbox_state(m, 'INBOX')
        check(st2 is not None and len(st2) == len(inbox) - moved,
              'INBOX after a new login: the same messages', (inbox, st2))
        check(all('\\Seen' in x for x in st2 or []),
              'flags kept across a new login', st2)
        p = poplib.POP3_SSL('127.0.0.1', POP3S, context=ctx(), timeout=20)
        p.user(ALICE)
        p.pass_(PW)
        n = p.stat()[0]
        try:
            lines = p.retr(1)[1]
            check(any(b'END ' in x for x in lines),
                  'POP3 RETR on a full disk: the whole message', len(lines))
        except poplib.error_proto as e:
            check(str(e).startswith("b'-ERR"), 'POP3 RETR: a clear -ERR', e)
        p.quit()
        check(len(env.maildir_files(ALICE)) >= n,
              'POP3 on a full disk: no message lost')
        p = poplib.POP3_SSL('127.0.0.1', POP3S, context=ctx(), timeout=20)
        p.user(ALICE)
        p.pass_(PW)
        n = p.stat()[0]
        try:
            p.dele(n)
            p.quit()
            check(len(env.maildir_files(ALICE)) == n - 1,
                  'POP3 DELE on a full disk: that one message removed',
                  len(env.maildir_files(ALICE)))
        except poplib.error_proto as e:
            check(len(env.maildir_files(ALICE)) == n,
                  'POP3 DELE refused: nothing removed', e)
    finally:
        free(MFS)
    typ, text = append(m, 'Archive', None, big_message(f'ok-{os.getpid()}',
                                                         100))
    check(typ == 'OK', 'space again: APPEND works', (typ, text))
    m.logout()
    new = log('imapd')[before:]
    check('No space left on device' in new,
          'IMAP: the log says why', new[-1500:])
    alive('imapd')


def uidlist_uids(folder):
    p = os.path.join(env.mail_dir(ALICE), '.' + folder, 'facteur-uidlist')
    try:
        with open(p, encoding='utf-8', errors='replace') as f:
            lines = f.read().split('\n')[1:]
    except FileNotFoundError:
        return set()
    return {int(x.split()[0]) for x in lines if len(x.split()) == 4}


def shown_uids(m):
    typ, data = m.uid('SEARCH', 'ALL')
    return {int(x) for x in data[0].split()} if typ == 'OK' else None


def test_imap_new_mail_full():
    """Mail that came into a folder while the disk filled up: a UID is
    shown to a client only once it is in facteur-uidlist (README
    "What is kept where"), so a restart cannot give it to another
    message; the mail is shown once there is room."""
    m = imap()
    m.create('Fresh3')          # no UID list yet
    mid = f'late-{os.getpid()}'
    env.put_message(ALICE, big_message(mid, 2).replace('\r\n', '\n'),
                    'Fresh3')
    fill(MFS)
    try:
        typ, _ = m.select('Fresh3')
        check(typ == 'OK', 'full disk: SELECT of a folder with new mail', typ)
        shown = shown_uids(m) or set()
        check(shown <= uidlist_uids('Fresh3'),
              'full disk: every UID shown is in facteur-uidlist',
              (shown, uidlist_uids('Fresh3')))
        m.noop()
        shown = shown_uids(m) or set()
        check(shown <= uidlist_uids('Fresh3'),
              'full disk, NOOP: every UID shown is in facteur-uidlist',
              (shown, uidlist_uids('Fresh3')))
    finally:
        free(MFS)
    m.noop()
    shown = shown_uids(m) or set()
    check(len(shown) == 1 and shown <= uidlist_uids('Fresh3'),
          'space again: the new mail is shown, its UID on disk',
          (shown, uidlist_uids('Fresh3')))
    m.logout()


def config(smtp=None, queue=None, **kw):
    env.write_config(domains='example.org',
                     smtp=dict({'listen': [f'127.0.0.1:{SMTP}'],
                                'timeout': '20s'}, **(smtp or {})),
                     imap={'listen': f'127.0.0.1:{IMAPS}'},
                     pop3={'listen': f'127.0.0.1:{POP3S}'},
                     queue=queue or {'retry': '1s', 'max_retry': '1s'}, **kw)


def test_greylist_full():
    """Greylisting on, its database (state_dir/greylist.db) on the full
    file system: smtpd keeps serving, logs the failed writes without a
    loop, refuses the message with 452 (never 250), and after the space
    is back and a restart the database still works."""
    config(greylist={'enable': True, 'delay': '1s'})
    env.stop('smtpd')
    env.start('smtpd', ports=[SMTP])
    pid = os.getpid()
    code, text, _ = send(f'g0-{pid}', 4, f'g0-{pid}@remote.test')
    check(code == 451 and '4.7.1' in text, 'greylist: a new sender waits',
          (code, text))
    time.sleep(1.2)     # a sync of the database in between
    before = len(log('smtpd'))
    fill(QFS)
    try:
        for i in range(3):
            code, text, noop = send(f'g1-{pid}', 300, f'g1-{pid}@remote.test')
            check(code != 250, f'greylist, queue full: try {i} not 250',
                  (code, text))
            check(noop == 250, f'greylist, queue full: session {i} goes on',
                  noop)
            time.sleep(1.1)
        check(code == 452 and '4.3.1' in text,
              'greylist, queue full: past greylisting, DATA gets 452 4.3.1',
              (code, text))
        new = log('smtpd')[before:]
        check(new.count('greylist: ') <= 6,
              'greylist, queue full: failed writes logged, not in a loop',
              new[-2000:])
        alive('smtpd')
    finally:
        free(QFS)
    env.stop('smtpd')
    env.start('smtpd', ports=[SMTP])
    text = log('smtpd')
    check('greylist.db.bad' not in text and 'greylisting off' not in text,
          'greylist: the database opens after the full disk', text[-2000:])
    code, text, _ = send(f'g2-{pid}', 4, f'g1-{pid}@remote.test')
    check(code == 250, 'greylist: the sender that passed passes', (code, text))
    check(len(env.wait_message(ALICE, f'END g2-{pid}', 1, 20)) == 1,
          'greylist: its mail delivered')
    config()
    env.stop('smtpd')
    env.start('smtpd', ports=[SMTP])


class HeldHandler(rf.Handler):
    """The smarthost's side: a RCPT is answered only once GATE is set
    (perm-* recipients then get 550: relay_fixtures)."""
    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        while not GATE.is_set():
            await asyncio.sleep(0.05)
        return await super().handle_RCPT(server, session, envelope, address,
                                          rcpt_options)


GATE = threading.Event()


def test_bounce_queue_full():
    """A recipient fails for good while the queue's file system is full:
    the bounce cannot be written; it is tried again after [queue] retry,
    backing off, not at every tick of the queue (two log lines a second
    per message, for as long as the disk stays full), and written and
    sent once when there is room."""
    sink = rf.Sink(env, None, handler=HeldHandler())
    env.add_alias('fwd@example.org', 'perm-friend@remote.test')
    sender = f'bsender{os.getpid()}@remote.test'
    config(smtp={'trusted': '127.0.0.0/8'},     # a sender bounces may go to
           relay={'host': '127.0.0.1', 'port': str(sink.port), 'tls': 'none'},
           queue={'retry': '1s', 'max_retry': '2s'})
    env.stop('smtpd')
    env.start('smtpd', ports=[SMTP])
    before = len(log('smtpd'))
    try:
        s = smtplib.SMTP('127.0.0.1', SMTP, timeout=20)
        s.sendmail(sender, ['fwd@example.org'],
                   big_message(f'bounce-{os.getpid()}', 4))
        s.quit()
        fill(QFS)
        GATE.set()
        ok = ft.wait_for(lambda: 'writing a bounce' in log('smtpd')[before:],
                         15)
        check(ok, 'bounce: the recipient fails, the bounce cannot be written',
              log('smtpd')[before:][-2000:])
        time.sleep(4.2)
        new = log('smtpd')[before:]
        lines = re.findall(r'writing a bounce: \S+/queue/msg/\w+ \(the '
                           r'queue.s file system is full\): No space left',
                           new)
        check(1 <= len(lines) <= 3,
              'bounce: tried again after [queue] retry, not every second',
              new[-2500:])
        alive('smtpd')
    finally:
        GATE.set()
        free(QFS)
    ok = ft.wait_for(lambda: [m for m in sink.msgs if m['rcpt'] == [sender]],
                     15)
    check(ok, 'bounce: written and sent once there is room',
          log('smtpd')[before:][-1500:])
    time.sleep(1)
    check(len([m for m in sink.msgs if m['rcpt'] == [sender]]) == 1,
          'bounce: sent once', sink.msgs)
    check(ft.wait_for(lambda: not queued(), 10), 'bounce: the queue drains',
          queued())
    sink.stop()
    config()
    env.stop('smtpd')
    env.start('smtpd', ports=[SMTP])


def test_daemons_alive():
    alive('authd', 'smtpd', 'imapd')


def setup():
    mount(QFS, '4m')
    mount(MFS, '4m')
    for fs, d in ((QFS, 'state'), (MFS, 'mail')):    # root's, as in production
        os.mkdir(os.path.join(fs, d), 0o755)
    os.chown(env.run_dir, 0, 0)
    env.state_dir = os.path.join(QFS, 'state')
    env.mail_root = os.path.join(MFS, 'mail')
    cleanup = env.cleanup

    def unmount_then_cleanup():
        unmount_all()
        cleanup()
    env.cleanup = unmount_then_cleanup
    config()
    env.make_role_accounts()
    for u in (ALICE, BOB):
        env.add_user(u, PW)
    env.start('authd')
    env.start('smtpd', ports=[SMTP])
    env.start('imapd', ports=[IMAPS, POP3S])
    for i in range(2):      # alice's Maildir, folders and some mail
        code, text, _ = send(f'first{i}-{os.getpid()}', 4)
        if code != 250:
            raise RuntimeError(f'first mail: {code} {text}')
    if len(env.wait_message(ALICE, 'first1-', 1, 20)) != 1:
        raise RuntimeError('first mail not delivered')
    imap().logout()


def main():
    ft.main(env, setup, [test_smtp_queue_full, test_deliver_maildir_full,
                         test_imap_full, test_imap_new_mail_full,
                         test_greylist_full, test_bounce_queue_full,
                         test_daemons_alive])


if __name__ == '__main__':
    main()
