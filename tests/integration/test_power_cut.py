#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_power_cut - power cuts that really lose what was not synced.

state_dir and mail_dir are on crashfs (crashfs.py: a FUSE pass-through
that keeps a strict POSIX durability model: a file's data is durable at
its fsync, a directory entry at its directory's fsync, nothing else).
Sessions send mail from several concurrent connections, to users whose
Maildirs do not exist yet (made at their first delivery) and to one that
has mail already, some messages to two recipients (QID.done); then every
daemon is SIGKILLed, the filesystem unmounted and rewritten to what a
disk would hold after a power cut at that instant, and facteur is started
again on it.  The README's promise ("Where mail goes") is checked after
each cut: every message that got a 250 is delivered exactly once to each
recipient, none twice, each Maildir file complete (its size is the W= of
its name), no acknowledged message lost in queue/corrupt/ (a recycled
file whose truncate was lost holds a delivered message there: smtpd's
README), and the queue drains.

Cut points: mid-stream (sessions sending, deliveries in flight, after
more messages than the queue's file pool, so recycled names were synced),
right after a single 250, after everything was delivered and the queue
had drained, and after IMAP work (store/README.md: APPEND, COPY and MOVE
are durable before their UID is given out): a Maildir made by its first
login, a folder by CREATE, messages APPENDed, COPYed, MOVEd, moved from
new/ to cur/ by SELECT; each folder must be as IMAP left it.
And a delivered message MOVEd to another folder once the queue's
removal of its file is durable (the queue role fsyncs msg/ on its tick
after removals; crashfs shows the durable listing): it must not come
back after the cut.  And Maildirs that an earlier run made but died
before their fsyncs: the first delivery, login and APPEND into them
must make them durable.  And a queue file that does not parse, set
aside in corrupt/ at a start: the move must survive the next cut.  And
crashfs itself, first: opens of a name that renames keep replacing.
Started as root (make check), the FUSE mount needs /dev/fuse and
python3-pyfuse3; otherwise nothing is checked.
"""

import imaplib
import importlib.util
import os
import re
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check, RawSMTP, dot_stuff  # noqa: E402
from crashfs import CrashFS  # noqa: E402

SESSIONS = 6
SENDER = 'sender@remote.test'
ALICE = 'alice@example.org'         # has mail from the first round on
errors = []


def can_run():
    if os.geteuid() != 0:
        return 'not root'
    if not os.path.exists('/dev/fuse'):
        return 'no /dev/fuse'
    if importlib.util.find_spec('pyfuse3') is None:
        return 'no python3-pyfuse3'
    return None


why_not = can_run()
if why_not:
    print(f'# {why_not}: power cuts cannot be tested here')
    print('0 passed, 0 failed')
    sys.exit(0)

# started as root, as in production: each role under its own account
# (README "Who runs as whom"), the queue role chrooted into
# state_dir/queue on crashfs, the kernel checking each role's uid there
BASE = '_facpc'
env = ft.root_env(BASE)
P1 = env.port()
P_IMAP = env.port()
IMAPU = 'imapu@example.org'         # its Maildir is made by its IMAP login
EARLY = 'early@example.org'         # Maildirs made, not synced, by a
EARLYI = 'earlyi@example.org'       # run that died (test_cut_dirs_made_before)
DISK = env.path('disk')             # what the "disk" holds
MNT = env.path('fs')                # crashfs over it
fs = CrashFS(DISK, MNT, env.path('logs', 'crashfs.log'))
acked = {}                          # Message-ID -> recipients, after a 250
attempted = set()
lock = threading.Lock()


def message(mid):
    return (b'From: <' + SENDER.encode() + b'>\r\n'
            b'Subject: ' + mid.encode() + b'\r\n'
            b'Message-ID: <' + mid.encode() + b'@remote.test>\r\n'
            b'\r\n' + b'Power cut body line.\r\n' * 30 +
            b'END ' + mid.encode() + b'\r\n')


def users(rnd):
    return [f'r{rnd}u{k}@example.org' for k in range(2)]


def session(k, rnd, stop, limit):
    """One client sending until stop (or limit messages), reconnecting
    after an error (the cut)."""
    c = None
    i = 0
    new = users(rnd)
    while not stop.is_set() and i < limit:
        mid = f'pc{rnd}-{k}-{i}-{os.getpid()}'
        rcpts = [new[i % 2]] if i % 4 else [new[i % 2], ALICE]
        if i % 7 == 3:
            rcpts = [ALICE]
        i += 1
        try:
            if c is None:
                c = RawSMTP(P1, timeout=10)
                c.cmd('EHLO pc.test')
            with lock:
                attempted.add(mid)
            code, text = c.mail_transaction(SENDER, rcpts,
                                            dot_stuff(message(mid)))
            if code == 250:
                with lock:
                    acked[mid] = rcpts
            else:
                errors.append(f'{mid}: {code} {text}')
        except (OSError, EOFError, ft.SMTPError) as e:
            errors.append(f'{mid}: {e!r}')
            if c is not None:
                c.close()
            c = None
            time.sleep(0.05)
    if c is not None:
        c.close()


def start_sessions(rnd, n=SESSIONS, limit=10 ** 6):
    stop = threading.Event()
    ts = [threading.Thread(target=session, args=(k, rnd, stop, limit))
          for k in range(n)]
    for t in ts:
        t.start()
    return stop, ts


def start_daemons():
    env.start('authd')
    env.start('smtpd', ports=[P1])
    env.start('imapd', ports=[P_IMAP])


def power_cut(stop=None, threads=()):
    """Every daemon SIGKILLed, then the disk keeps only what was synced;
    facteur starts again on it."""
    t0 = time.monotonic()
    env.kill_group('smtpd')
    env.kill_group('imapd')
    env.kill_group('authd')
    if stop is not None:
        stop.set()
    for t in threads:
        t.join(30)
    t1 = time.monotonic()
    line = fs.cut()
    t2 = time.monotonic()
    fs.mount()
    start_daemons()
    print(f'# {line}; kill {t1 - t0:.1f} s, cut {t2 - t1:.1f} s, restart '
          f'{time.monotonic() - t2:.1f} s', flush=True)
    return line


def msgdir_files():
    """Non-empty files in queue/msg (mail not delivered yet)."""
    d = os.path.join(env.state_dir, 'queue', 'msg')
    out = []
    for n in os.listdir(d) if os.path.isdir(d) else []:
        try:
            if os.path.getsize(os.path.join(d, n)) > 0:
                out.append(n)
        except FileNotFoundError:
            pass
    return out


def delivered():
    """{(Message-ID, recipient): copies} over every Maildir; the files
    that are not complete"""
    counts, bad = {}, []
    root = env.mail_root
    for domain in os.listdir(root):
        for local in os.listdir(os.path.join(root, domain)):
            addr = f'{local}@{domain}'
            for p in env.maildir_files(addr):
                with open(p, 'rb') as f:
                    data = f.read()
                m = re.search(rb'Message-ID: <([^@>]+)@', data)
                w = re.search(r',W=(\d+)', os.path.basename(p))
                mid = m.group(1).decode() if m else None
                if not (m and w and int(w.group(1)) == len(data) +
                        data.count(b'\n') and data.endswith(
                            b'\nEND ' + m.group(1) + b'\n')):
                    bad.append(p)
                counts[(mid, addr)] = counts.get((mid, addr), 0) + 1
    return counts, bad


def corrupt_ids():
    d = os.path.join(env.state_dir, 'queue', 'corrupt')
    out = {}
    for n in os.listdir(d) if os.path.isdir(d) else []:
        with open(os.path.join(d, n), 'rb') as f:
            m = re.search(rb'Message-ID: <([^@>]+)@', f.read())
        out[n] = m.group(1).decode() if m else None
    return out


def verify(what):
    """After a restart: the queue drains, and then each acknowledged
    message is in each of its recipients' Maildirs exactly once."""
    drained = ft.wait_for(lambda: not msgdir_files(), 60, 0.1)
    check(drained, f'{what}: the queue drains after the restart',
          msgdir_files()[:5])
    counts, bad = delivered()
    with lock:
        want = {(mid, r) for mid, rs in acked.items() for r in rs}
    lost = sorted(p for p in want if counts.get(p, 0) == 0)
    dup = {p: n for p, n in counts.items() if n > 1}
    stray = [p for p in counts if p[0] not in attempted]
    check(not lost, f'{what}: every acknowledged message delivered '
          f'({len(want)} deliveries)', f'{len(lost)} lost: {lost[:8]}')
    check(not dup, f'{what}: nothing delivered twice', dup)
    check(not bad, f'{what}: every Maildir file complete', bad[:5])
    check(not stray, f'{what}: nothing delivered that was not sent', stray)
    aside = corrupt_ids()
    undelivered = {n: mid for n, mid in aside.items() if mid in acked and
                   any(counts.get((mid, r), 0) == 0 for r in acked[mid])}
    check(not undelivered, f'{what}: no acknowledged message set aside in '
          'corrupt/ instead of delivered', undelivered)
    recycled = sum(1 for mid in aside.values() if mid in acked)
    print(f'# {what}: {len(acked)} acknowledged of {len(attempted)} sent, '
          f'{sum(counts.values())} deliveries, corrupt/: {len(aside)} files '
          f'({recycled} delivered messages of recycled files)', flush=True)


def wait_acked(n, timeout=60):
    return ft.wait_for(lambda: len(acked) >= n, timeout, 0.005)


def test_cut_mid_stream():
    """The first start made the queue's directories, the first deliveries
    the Maildirs: cut while sessions send and deliveries run, past more
    messages than the file pool holds."""
    stop, ts = start_sessions(1)
    check(wait_acked(70), 'mid-stream: 70 messages acknowledged',
          errors[-5:])
    power_cut(stop, ts)
    verify('mid-stream')


def test_cut_after_one_250():
    """One message to a new Maildir, the cut right after its 250."""
    c = RawSMTP(P1, timeout=10)
    c.cmd('EHLO pc.test')
    mid = f'pc2-one-{os.getpid()}'
    rcpts = users(2)[:1]
    attempted.add(mid)
    code, text = c.mail_transaction(SENDER, rcpts, dot_stuff(message(mid)))
    if code == 250:
        acked[mid] = rcpts
    power_cut()
    c.close()
    check(code == 250, 'one message: 250', text)
    verify('right after a 250')


def test_cut_after_drain():
    """Everything delivered and the queue drained (its files recycled
    under new names, the pool filled again): then the cut."""
    before = len(acked)
    stop, ts = start_sessions(3, limit=12)
    for t in ts:
        t.join(60)
    stop.set()
    check(len(acked) - before == SESSIONS * 12,
          'after drain: every message acknowledged', errors[-5:])
    check(ft.wait_for(lambda: not msgdir_files(), 60, 0.1),
          'after drain: the queue drained before the cut')
    power_cut()
    verify('after drain')


def imap_login(user=IMAPU):
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL('127.0.0.1', P_IMAP, ssl_context=c, timeout=20)
    m.login(user, 'pw ' + user)
    return m


def folder_ids(folder, user=IMAPU):
    """Message-IDs in one of user's folders (INBOX: ''), as on disk; listed
    again when a file moved meanwhile (a selected session's sync takes a
    delivery from new/ to cur/ while this reads)"""
    sub = '.' + folder if folder else ''
    while True:
        out = []
        try:
            for p in env.maildir_files(user, (os.path.join(sub, 'new'),
                                               os.path.join(sub, 'cur'))):
                with open(p, 'rb') as f:
                    m = re.search(rb'Message-ID: <([^@>]+)@', f.read())
                out.append(m.group(1).decode() if m else None)
        except FileNotFoundError:
            continue
        return sorted(out)


def imap_uid(m, mid):
    return m.uid('SEARCH', 'HEADER', 'Message-ID', mid)[1][0].split()[0]


def send_imapu(mids):
    c = RawSMTP(P1, timeout=10)
    c.cmd('EHLO pc.test')
    for mid in mids:
        attempted.add(mid)
        code, text = c.mail_transaction(SENDER, [IMAPU],
                                        dot_stuff(message(mid)))
        check(code == 250, f'imap: {mid} queued', text)
        if code == 250:
            acked[mid] = [IMAPU]
    c.close()
    check(ft.wait_for(lambda: set(mids) <= set(folder_ids('')), 30),
          'imap: delivered', folder_ids(''))


def test_cut_imap():
    """What IMAP says is done is on disk (store/README.md: APPEND, COPY
    and MOVE durable before their UID is given out): a first login makes
    the Maildir and its special folders, mail is delivered into it, moved
    from new/ to cur/ by SELECT, a folder made by CREATE, messages
    APPENDed, COPYed and MOVEd; one more delivery (new/ fsync'd); then
    the cut."""
    pid = os.getpid()
    m = imap_login()            # the Maildir is made here
    send_imapu([f'pci-{k}-{pid}' for k in range(2)])
    said = [m.create('Projects')]
    for mid, box in ((f'pca-0-{pid}', 'Projects'), (f'pca-1-{pid}', 'Sent'),
                     (f'pca-2-{pid}', 'INBOX')):
        said.append(m.append(box, None, None, message(mid)))
        attempted.add(mid)
    said.append(m.select('INBOX'))      # new/ to cur/
    said.append(m.uid('COPY', imap_uid(m, f'pci-0-{pid}'), 'Projects'))
    said.append(m.uid('MOVE', imap_uid(m, f'pca-2-{pid}'), 'Projects'))
    check(all(r[0] == 'OK' for r in said),
          'imap: CREATE, APPEND, SELECT, COPY, MOVE answered OK', said)
    send_imapu([f'pci-2-{pid}'])        # new/ fsync'd
    before = {b: folder_ids(b) for b in ('', 'Projects', 'Sent')}
    power_cut()
    try:
        m.logout()
    except (OSError, imaplib.IMAP4.abort):
        pass
    verify('imap')
    after = {b: folder_ids(b) for b in ('', 'Projects', 'Sent')}
    check(after == before, 'imap: every folder as IMAP left it',
          f'before {before}, after {after}')


def durable_queue_names():
    d = os.path.join(env.state_dir, 'queue', 'msg')
    return set(os.getxattr(d, 'user.crashfs.durable').decode().split())


def test_cut_imap_move_delivered():
    """A delivered message MOVEd (or expunged) is not delivered again
    after a cut, once the queue's removal of its file is durable: the
    deliver role's check at restart looks for its Maildir name, which
    MOVE changed, so the removal must not come back.  The queue role
    fsyncs msg/ within a tick or two after removals (before, only at
    the pool's next fill: hours on a quiet server)."""
    pid = os.getpid()
    m = imap_login()
    send_imapu([f'pcm-0-{pid}'])
    # the deliver role's name for it, before MOVE renames it
    qids = []
    for p in env.maildir_files(IMAPU):
        with open(p, 'rb') as f:
            if f'pcm-0-{pid}@'.encode() in f.read():
                qids += re.findall(r'\.Q([0-9a-f]{16})_', p)
    check(len(qids) == 1, 'imap: the delivered file names its queue id',
          qids)
    m.select('INBOX')
    r = m.uid('MOVE', imap_uid(m, f'pcm-0-{pid}'), 'Archive')
    check(r[0] == 'OK', 'imap: MOVE of a delivered message', r)
    with lock:      # no longer in INBOX: the folders are compared below
        acked.pop(f'pcm-0-{pid}', None)
    gone = ft.wait_for(lambda: not set(qids) & durable_queue_names(), 10,
                       0.1)
    check(gone, 'the queue file\'s removal becomes durable within seconds',
          sorted(durable_queue_names())[:5])
    before = {b: folder_ids(b) for b in ('', 'Archive')}
    power_cut()
    verify('imap move')
    after = {b: folder_ids(b) for b in ('', 'Archive')}
    check(after == before, 'imap: a moved message is not delivered again',
          f'before {before}, after {after}')


def made_unsynced(addr, folders=('',)):
    """addr's Maildir (and subfolders) made as a run that died before its
    fsyncs left it: there while the machine stays up, not durable."""
    root = env.mail_dir(addr)
    for folder in folders:
        d = os.path.join(root, '.' + folder) if folder else root
        for sub in ('tmp', 'new', 'cur'):
            os.makedirs(os.path.join(d, sub), 0o700)
            env.chown(os.path.join(d, sub))
        env.chown(d)
    listing = os.getxattr(os.path.dirname(env.mail_dir(addr)),
                          'user.crashfs.durable').decode().split()
    check(os.path.basename(env.mail_dir(addr)) not in listing,
          f'{addr}: its Maildir is there but not durable', listing)


def test_cut_dirs_made_before():
    """Maildirs an earlier run made and died before their fsyncs (a kill,
    a failed fsync and a restart: lib/dirsync.h): they look like any
    other while the machine stays up.  The deliver role's first delivery
    into one, and an IMAP worker's first login and APPEND into one, must
    make them durable, or the power cut takes the mail with them."""
    pid = os.getpid()
    made_unsynced(EARLY)
    made_unsynced(EARLYI, ('', 'Sent'))
    c = RawSMTP(P1, timeout=10)
    c.cmd('EHLO pc.test')
    mid = f'pce-0-{pid}'
    attempted.add(mid)
    code, text = c.mail_transaction(SENDER, [EARLY], dot_stuff(message(mid)))
    c.close()
    check(code == 250, 'made before: 250', text)
    if code == 250:
        acked[mid] = [EARLY]
    check(ft.wait_for(lambda: env.maildir_files(EARLY), 30),
          'made before: delivered')
    # the queue file's removal durable: after the cut, only the Maildir
    # has the message (else the restart would deliver it again)
    qids = [q for p in env.maildir_files(EARLY)
            for q in re.findall(r'\.Q([0-9a-f]{16})_', p)]
    check(qids and ft.wait_for(
        lambda: not set(qids) & durable_queue_names(), 10, 0.1),
        'made before: the queue file\'s removal durable', qids)
    m = imap_login(EARLYI)
    amid = f'pce-a-{pid}'
    attempted.add(amid)
    r = m.append('Sent', None, None, message(amid))
    check(r[0] == 'OK', 'made before: APPEND into Sent', r)
    power_cut()
    try:
        m.logout()
    except (OSError, imaplib.IMAP4.abort):
        pass
    verify('made before')
    check(folder_ids('Sent', EARLYI) == [amid],
          'made before: the APPENDed message survives in Sent',
          folder_ids('Sent', EARLYI))


def test_crashfs_open_during_rename():
    """crashfs itself: an open(2) whose lookup found a name that a rename
    then replaced (the kernel sends OPEN after the lookup, unlocked) gets
    the old file, as on a disk; crashfs used to die there (the inode had
    no name left to open), taking the mount with it.  Readers open a name
    that renames keep replacing, for a second and a half: the name always
    exists, so every open succeeds."""
    d = os.path.join(MNT, 'race')
    os.mkdir(d)
    name = os.path.join(d, 'target')
    with open(name, 'wb') as f:
        f.write(b'0')
    stop = threading.Event()
    bad, opens = [], [0]

    def renamer():
        i = 0
        while not stop.is_set():
            i += 1
            tmp = os.path.join(d, f'tmp{i % 2}')
            try:
                with open(tmp, 'wb') as f:
                    f.write(str(i).encode())
                os.rename(tmp, name)
            except OSError as e:
                bad.append(f'rename: {e!r}')
                return

    def reader():
        while not stop.is_set():
            try:
                with open(name, 'rb') as f:
                    data = f.read()
            except OSError as e:
                bad.append(f'open: {e!r}')
                return
            if not data.isdigit():
                bad.append(f'read {data!r}')
            opens[0] += 1

    ts = [threading.Thread(target=t) for t in (renamer, reader, reader)]
    for t in ts:
        t.start()
    ft.wait_for(lambda: bad or fs.proc.poll() is not None, 1.5, 0.05)
    stop.set()
    for t in ts:
        t.join(10)
    try:
        served = os.path.isdir(env.state_dir) and fs.proc.poll() is None
    except OSError:     # ENOTCONN: nobody serves the mount
        served = False
    check(served, 'crashfs survives opens during renames',
          'it exited: see logs/crashfs.log')
    check(not bad and opens[0] > 0, f'every open of a name being renamed '
          f'over succeeds ({opens[0]} opens)', bad[:3])
    subprocess.run(['rm', '-rf', d], check=False, capture_output=True)


def durable_names(d):
    """the names a cut keeps in directory d (crashfs.py), [] if none"""
    try:
        return os.getxattr(d, 'user.crashfs.durable').decode().split()
    except FileNotFoundError:
        return []


def test_cut_corrupt_set_aside():
    """A queue file that does not parse at start is moved to corrupt/
    durably: corrupt/ made with queue/ fsync'd, the file's new name and
    its removal from msg/ synced before the log line.  Otherwise the
    cut takes it out of msg/ and not into corrupt/ (lost), or brings it
    back to msg/ to be set aside again."""
    qid = f'{0xc0ffee0000000000 + os.getpid():016x}'
    queue = os.path.join(env.state_dir, 'queue')
    msg, corrupt = os.path.join(queue, 'msg'), os.path.join(queue, 'corrupt')
    data = b'not a queue file, no end record\n' * 20
    p = os.path.join(msg, qid)
    with open(p, 'wb') as f:    # durable, the queue role's, as if damaged
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    st = os.stat(msg)
    os.chown(p, st.st_uid, st.st_gid)
    os.chmod(p, 0o600)
    fd = os.open(msg, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
    power_cut()                 # the start after it sets the file aside
    check(ft.wait_for(lambda: os.path.exists(os.path.join(corrupt, qid)),
                      30), 'corrupt: the file is moved to corrupt/')
    check(qid not in os.listdir(msg), 'corrupt: no longer in msg/')
    durable = ft.wait_for(lambda: 'corrupt' in durable_names(queue) and
                          qid in durable_names(corrupt) and
                          qid not in durable_names(msg), 5, 0.1)
    check(durable, 'corrupt: the move is durable (corrupt/ in queue/, the '
          'file in corrupt/, not in msg/)',
          (durable_names(queue), durable_names(corrupt),
           qid in durable_names(msg)))
    power_cut()
    verify('corrupt')
    kept = os.path.join(corrupt, qid)
    check(os.path.exists(kept) and open(kept, 'rb').read() == data and
          not os.path.exists(p), 'corrupt: after the cut the file is in '
          'corrupt/, intact, and not back in msg/')
    moved = env.daemons['smtpd'].log_text().count(f'qid={qid} does not parse')
    check(moved == 1, 'corrupt: set aside once, not again after the cut',
          f'{moved} times')


def test_cut_changed_something():
    """The cuts did lose unsynced writes (the model is not a no-op)."""
    lost = 0
    for line in fs.cuts:
        lost += sum(int(x) for x in re.findall(r'(\d+) (?:entries|unsynced|'
                                               r'files back)', line))
    check(lost > 0, 'the power cuts threw away unsynced changes', fs.cuts)


def setup():
    os.mkdir(DISK, 0o755)
    os.mkdir(MNT, 0o755)
    for d in ('state', 'mail'):          # root's, as test_privsep's
        os.mkdir(os.path.join(DISK, d), 0o755)
    os.chown(env.run_dir, 0, 0)
    env.state_dir = os.path.join(MNT, 'state')
    env.mail_root = os.path.join(MNT, 'mail')
    cleanup = env.cleanup

    def unmount_then_cleanup():
        fs.unmount_quietly()
        cleanup()
    env.cleanup = unmount_then_cleanup
    fs.mount(extra_env={k: v for k, v in os.environ.items()
                        if k.startswith('CRASHFS_')})
    env.write_config(domains='example.org',
                     imap={'listen': f'127.0.0.1:{P_IMAP}', 'timeout': '1m'},
                     smtp={'listen': [f'127.0.0.1:{P1}'],
                           'max_clients': 2 * SESSIONS,
                           'max_per_addr': 2 * SESSIONS, 'timeout': '10s'})
    env.make_role_accounts()
    for u in [ALICE, IMAPU, EARLY, EARLYI] + users(1) + users(2) + users(3):
        env.add_user(u, 'pw ' + u)
    start_daemons()


def main():
    ft.main(env, setup, [test_crashfs_open_during_rename,
                         test_cut_mid_stream, test_cut_after_one_250,
                         test_cut_after_drain, test_cut_imap,
                         test_cut_imap_move_delivered,
                         test_cut_dirs_made_before,
                         test_cut_corrupt_set_aside,
                         test_cut_changed_something])


if __name__ == '__main__':
    main()
