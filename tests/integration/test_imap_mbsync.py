# SPDX-License-Identifier: ISC
"""test_imap_mbsync - resynchronisation with mbsync (isync) against
facteur-imapd, and what a CONDSTORE/QRESYNC client sees of mbsync's
changes.  mbsync copies INBOX and a folder to a local Maildir; then flags
change and messages are expunged on both sides (the same message flagged
differently on each, a message deleted locally, one marked \\Deleted
locally, one expunged on the server, one new on each side); a second
mbsync run must leave both sides with the same messages and the union of
the flags, and a third must change nothing.  A QRESYNC session that knew
the folder before the second run then resyncs with SELECT (QRESYNC ...):
VANISHED (EARLIER) must name exactly the messages gone and the FETCHes
bring exactly the changed flags, so that applying them to what it knew
gives the server's state; FETCH (CHANGEDSINCE) must agree.

mbsync 1.4.4 (Debian 12) does not use CONDSTORE: its debug output (-D)
shows it asks for every message's flags each run (UID FETCH ... (UID
FLAGS)); the test prints what it sent, as an "info" line."""

import imaplib
import os
import re
import shutil
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402

ALICE = 'alice@example.org'
PASS = 'mbsync resync pw'
env = ft.Env()
PORT = 0
LOCAL = RC = ''
MAILDIR_FLAGS = {'D': '\\Draft', 'F': '\\Flagged', 'R': '\\Answered',
                 'S': '\\Seen', 'T': '\\Deleted'}


def setup():
    global PORT, LOCAL, RC
    PORT = env.port()
    env.write_config(imap={'listen': f'127.0.0.1:{PORT}', 'timeout': '1m'})
    env.add_user(ALICE, PASS)
    env.start('authd')
    env.start('imapd', ports=[PORT])
    LOCAL = env.path('local')
    os.makedirs(LOCAL)
    RC = env.path('mbsyncrc')
    with open(RC, 'w', encoding='utf-8') as f:
        f.write(f'''IMAPAccount t
Host localhost
Port {PORT}
User {ALICE}
Pass "{PASS}"
SSLType IMAPS
CertificateFile {env.cert}
AuthMechs LOGIN

IMAPStore far
Account t

MaildirStore near
Path {LOCAL}/
Inbox {LOCAL}/INBOX
SubFolders Verbatim

Channel t
Far :far:
Near :near:
Patterns INBOX Lists
Create Both
Expunge Both
SyncState *
''')


def connect():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL('127.0.0.1', PORT, ssl_context=c)
    m.login(ALICE, PASS)
    return m


def deliver(box, subject):
    """a message file straight into the server's Maildir folder box"""
    env.put_message(ALICE, f'From: a@example.net\nSubject: {subject}\n'
                    f'Message-ID: <{subject}@mbsync.test>\n\nbody\n',
                    '' if box == 'INBOX' else box)


def mbsync(*extra):
    return subprocess.run(['mbsync', '-c', RC] + list(extra) + ['-a'],
                          capture_output=True, text=True, timeout=60)


def server_state(m, box):
    """{subject: (uid, frozenset of flags)} of box on the server"""
    m.select(box)
    typ, data = m.uid('FETCH', '1:*',
                      '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta = item[0].decode()
        uid = int(re.search(r'UID (\d+)', meta).group(1))
        flags = re.search(r'FLAGS \(([^)]*)\)', meta).group(1).split()
        subj = item[1].decode().split(':', 1)[1].strip()
        out[subj] = (uid, frozenset(f for f in flags if f != '\\Recent'))
    return out


def local_files(box):
    d = os.path.join(LOCAL, box)
    return [os.path.join(d, s, n) for s in ('cur', 'new')
            for n in os.listdir(os.path.join(d, s))]


def local_state(box):
    """{subject: (path, frozenset of flags)} of the local copy of box"""
    out = {}
    for p in local_files(box):
        with open(p, 'rb') as f:
            subj = re.search(rb'^Subject: (.*)$', f.read(), re.M).group(1)
        info = os.path.basename(p).split(':2,')[1] \
            if ':2,' in p else ''
        out[subj.decode().strip()] = (p, frozenset(
            MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS))
    return out


def local_flag(box, subject, add='', delete=False):
    p, _ = local_state(box)[subject]
    if delete:
        os.unlink(p)
        return
    base, _, info = os.path.basename(p).partition(':2,')
    new = ''.join(sorted(set(info + add)))
    os.rename(p, os.path.join(LOCAL, box, 'cur', f'{base}:2,{new}'))


def flags_only(st):
    return {k: v[1] for k, v in st.items()}


def test_resync():
    if not shutil.which('mbsync'):
        ft.check(False, 'mbsync installed (package isync)')
        return
    m = connect()       # makes the Maildir
    m.create('Lists')
    m.logout()
    for i in range(12):
        deliver('INBOX', f'in{i}')
    for i in range(6):
        deliver('Lists', f'li{i}')
    r = mbsync()
    ft.check(r.returncode == 0, 'first sync', r.stderr[-2000:])
    ft.check(len(local_files('INBOX')) == 12 and
             len(local_files('Lists')) == 6, 'first sync copied 12 + 6')

    # a QRESYNC client knows INBOX as it is now
    q = connect()
    q.enable('QRESYNC')
    typ, _ = q.select('INBOX')
    uidvalidity = int(q.response('UIDVALIDITY')[1][0])
    modseq0 = int(re.search(rb'(\d+)', q.response('HIGHESTMODSEQ')[1][0])
                  .group(1))
    known = server_state(q, 'INBOX')
    q.logout()

    # changes on the server
    m = connect()
    before = server_state(m, 'INBOX')
    uid = {s: v[0] for s, v in before.items()}
    m.select('INBOX')
    m.uid('STORE', str(uid['in0']), '+FLAGS', '(\\Flagged)')
    m.uid('STORE', str(uid['in1']), '+FLAGS', '(\\Seen \\Answered)')
    m.uid('STORE', str(uid['in2']), '+FLAGS', '(\\Deleted)')
    m.uid('EXPUNGE', str(uid['in2']))
    m.uid('STORE', str(uid['in7']), '+FLAGS', '(\\Answered)')
    m.select('Lists')
    lst = server_state(m, 'Lists')
    m.uid('STORE', str(lst['li0'][0]), '+FLAGS', '(\\Deleted)')
    m.expunge()
    m.uid('STORE', str(lst['li1'][0]), '+FLAGS', '(\\Flagged)')
    m.logout()
    deliver('INBOX', 'in-new-far')
    # changes on the near side (the Maildir mbsync keeps)
    local_flag('INBOX', 'in3', 'S')
    local_flag('INBOX', 'in4', 'FS')
    local_flag('INBOX', 'in5', delete=True)
    local_flag('INBOX', 'in6', 'T')
    local_flag('INBOX', 'in7', 'S')      # \Answered on the server: union
    local_flag('Lists', 'li2', delete=True)
    with open(os.path.join(LOCAL, 'INBOX', 'new',
                           f'{int(time.time())}.near.mbsync'), 'w',
              encoding='utf-8') as f:
        f.write('From: me@example.org\nSubject: in-new-near\n\nup\n')

    r = mbsync('-D')
    ft.check(r.returncode == 0, 'second sync', r.stderr[-2000:])
    sent = [ln.split('>>> ', 1)[1] for ln in
            r.stdout.splitlines() + r.stderr.splitlines()
            if ln.startswith('F: >>> ')]
    uses = [w for w in ('CONDSTORE', 'QRESYNC', 'CHANGEDSINCE', 'MODSEQ')
            if any(w in ln for ln in sent)]
    fl = [ln for ln in sent if 'FLAGS' in ln and 'FETCH' in ln][:2]
    print(f'info mbsync {len(sent)} commands; CONDSTORE/QRESYNC words sent: '
          f'{uses or "none"}; flag fetches: {fl}', flush=True)

    m = connect()
    far_in, far_li = server_state(m, 'INBOX'), server_state(m, 'Lists')
    m.logout()
    near_in, near_li = local_state('INBOX'), local_state('Lists')
    want_in = {f'in{i}' for i in range(12)} - {'in2', 'in5', 'in6'} | \
        {'in-new-far', 'in-new-near'}
    ft.check(set(far_in) == want_in, 'server INBOX: expunges of both sides, '
             'new messages of both sides', sorted(far_in))
    ft.check(set(near_in) == want_in, 'local INBOX: the same messages',
             sorted(near_in))
    ft.check(flags_only(far_in) == flags_only(near_in),
             'INBOX flags equal on both sides',
             (flags_only(far_in), flags_only(near_in)))
    want = {'in0': {'\\Flagged'}, 'in1': {'\\Seen', '\\Answered'},
            'in3': {'\\Seen'}, 'in4': {'\\Flagged', '\\Seen'},
            'in7': {'\\Answered', '\\Seen'}}
    ft.check(all(far_in[s][1] == w for s, w in want.items()),
             'changed flags arrived (in7: the union of both sides)',
             {s: sorted(far_in[s][1]) for s in want})
    ft.check(set(far_li) == set(near_li) == {'li1', 'li3', 'li4', 'li5'} and
             flags_only(far_li) == flags_only(near_li) and
             far_li['li1'][1] == {'\\Flagged'},
             'Lists: the same on both sides', (far_li, near_li))

    # the QRESYNC client comes back
    q = connect()
    q.enable('QRESYNC')
    known_uids = ','.join(str(v[0]) for v in known.values())
    typ, data = q._simple_command(  # pylint: disable=protected-access
        'SELECT', 'INBOX',
        f'(QRESYNC ({uidvalidity} {modseq0} {known_uids}))')
    ft.check(typ == 'OK', 'SELECT (QRESYNC ...)', data)
    q.state = 'SELECTED'
    vanished = set()
    for v in q.untagged_responses.pop('VANISHED', []):
        v = v.decode()
        ft.check(v.startswith('(EARLIER) '), 'VANISHED (EARLIER)', v)
        for part in v.split()[-1].split(','):
            a, _, b = part.partition(':')
            vanished |= set(range(int(a), int(b or a) + 1))
    changed = {}
    for f in q.untagged_responses.pop('FETCH', []):
        f = f.decode() if isinstance(f, bytes) else f[0].decode()
        u = int(re.search(r'UID (\d+)', f).group(1))
        changed[u] = frozenset(x for x in re.search(
            r'FLAGS \(([^)]*)\)', f).group(1).split() if x != '\\Recent')
    gone = {before[s][0] for s in ('in2', 'in5', 'in6')}
    ft.check(vanished == gone, 'VANISHED names exactly the 3 messages gone',
             (sorted(vanished), sorted(gone)))
    now_by_uid = {v[0]: v[1] for v in far_in.values()}
    ft.check(set(changed) == {before[s][0] for s in want},
             'FETCH for exactly the known messages whose flags changed',
             (sorted(changed), far_in))
    resynced = {v[0]: v[1] for s, v in known.items()
                if v[0] not in vanished}
    resynced.update(changed)
    # the new messages come after the known ones: fetched as such
    top = max(v[0] for v in known.values())
    typ, data = q.uid('FETCH', f'{top + 1}:*', '(FLAGS)')
    for d in data:
        if d:
            resynced[int(re.search(rb'UID (\d+)', d).group(1))] = frozenset(
                x for x in re.search(rb'FLAGS \(([^)]*)\)', d).group(1)
                .decode().split() if x != '\\Recent')
    ft.check(resynced == now_by_uid,
             'what it knew + VANISHED + FETCH = the server\'s state',
             (resynced, now_by_uid))
    typ, data = q.uid('FETCH', f'1:{top}', f'(FLAGS) (CHANGEDSINCE {modseq0})')
    cs = {int(re.search(rb'UID (\d+)', d).group(1)) for d in data if d}
    ft.check(cs == set(changed), 'FETCH (CHANGEDSINCE) agrees', (cs, changed))
    q.logout()

    # nothing changed since: a third run is a no-op
    snap = (sorted(local_files('INBOX')), env.maildir_files(ALICE))
    r = mbsync()
    ft.check(r.returncode == 0 and
             snap == (sorted(local_files('INBOX')), env.maildir_files(ALICE)),
             'third sync changes nothing', r.stderr[-2000:])


if __name__ == '__main__':
    ft.main(env, setup, [test_resync])
