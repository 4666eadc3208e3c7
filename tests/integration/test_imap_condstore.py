# SPDX-License-Identifier: ISC
"""test_imap_condstore - CONDSTORE and QRESYNC (RFC 7162) in facteur-imapd:
MODSEQ per message kept across restarts and bumped by flag changes made
in the Maildir by other programs, a lost modseq file, CHANGEDSINCE,
UNCHANGEDSINCE and MODIFIED, SEARCH MODSEQ, STATUS HIGHESTMODSEQ,
VANISHED and SELECT (QRESYNC ...), pipelined commands with a second
session, and the flags of a message another session expunged but this
one was not told about yet (imaptest stress own_flags)."""

import os
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402

ALICE = 'alice@example.org'
PASS = 'correct horse'
env = None
PORT = 0


class Raw:
    """A logged-in IMAPS session spoken to line by line."""

    def __init__(self):
        c = ssl.create_default_context()
        c.check_hostname = False
        c.verify_mode = ssl.CERT_NONE
        self.s = c.wrap_socket(socket.create_connection(('127.0.0.1', PORT)))
        self.s.settimeout(20)
        self.f = self.s.makefile('rwb')
        self.f.readline()
        self.n = 0
        self.cmd(f'LOGIN "{ALICE}" "{PASS}"')

    def send(self, *cmds):
        tags, data = [], b''
        for c in cmds:
            self.n += 1
            tags.append(f'T{self.n}')
            data += f'T{self.n} {c}\r\n'.encode()
        self.f.write(data)
        self.f.flush()
        return tags

    def read_until(self, tag):
        out = []
        while True:
            ln = self.f.readline()
            if not ln:
                raise EOFError('connection closed')
            ln = ln.rstrip(b'\r\n').decode('utf-8', 'replace')
            out.append(ln)
            if ln.startswith(tag + ' '):
                return out

    def cmd(self, c):
        lines = self.read_until(self.send(c)[0])
        return lines[:-1], lines[-1]

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def deliver(sub, subject):
    env.put_message(ALICE, f'From: a@example.net\nSubject: {subject}\n\nbody\n',
                    sub)


def folder(name, n):
    r = Raw()
    r.cmd(f'DELETE {name}')
    r.cmd(f'CREATE {name}')
    r.close()
    for i in range(n):
        deliver(name, f'm{i}')


def num(pat, lines):
    for ln in lines:
        m = re.search(pat, ln)
        if m:
            return int(m.group(1))
    return None


def modseqs(lines):
    """{uid: modseq} of FETCH lines."""
    out = {}
    for ln in lines:
        m = re.search(r'UID (\d+).*MODSEQ \((\d+)\)', ln)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


def setup():
    global env, PORT
    env = ft.Env()
    PORT = env.port()
    env.write_config(imap={'listen': f'127.0.0.1:{PORT}', 'timeout': '1m'})
    env.add_user(ALICE, PASS)
    env.start('authd')
    env.start('imapd', ports=[PORT])


def restart_imapd():
    env.stop('imapd')
    env.start('imapd', ports=[PORT])


def test_condstore_basics():
    """ENABLE, HIGHESTMODSEQ, STORE with MODSEQ, CHANGEDSINCE,
    UNCHANGEDSINCE/MODIFIED, SEARCH MODSEQ, STATUS HIGHESTMODSEQ."""
    folder('C1', 4)
    r = Raw()
    u, _ = r.cmd('CAPABILITY')
    ft.check('CONDSTORE' in u[0] and 'QRESYNC' in u[0], 'advertised', u)
    u, t = r.cmd('ENABLE CONDSTORE')
    ft.check(u == ['* ENABLED CONDSTORE'] and ' OK' in t, 'ENABLE', u)
    u, t = r.cmd('SELECT C1')
    h0 = num(r'HIGHESTMODSEQ (\d+)', u)
    ft.check(h0 is not None and h0 > 0, 'HIGHESTMODSEQ on SELECT', u)
    u, _ = r.cmd('UID FETCH 1:* (FLAGS MODSEQ)')
    ms = modseqs(u)
    ft.check(len(ms) == 4 and max(ms.values()) <= h0, 'FETCH MODSEQ', u)
    u, _ = r.cmd('STORE 2 +FLAGS (\\Seen)')
    m2 = num(r'MODSEQ \((\d+)\)', u)
    ft.check(m2 is not None and m2 > h0 and '\\Seen' in u[0],
             'STORE answers MODSEQ', u)
    u, _ = r.cmd('STORE 3 +FLAGS.SILENT (\\Flagged)')
    ft.check(len(u) == 1 and re.match(r'\* 3 FETCH \(MODSEQ \(\d+\)\)$',
                                      u[0]), '.SILENT still says MODSEQ', u)
    m3 = num(r'MODSEQ \((\d+)\)', u)
    u, _ = r.cmd(f'FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})')
    ft.check(len(u) == 2 and u[0].startswith('* 2 FETCH') and
             'MODSEQ' in u[0] and u[1].startswith('* 3 FETCH'),
             'CHANGEDSINCE: the two changed, with MODSEQ', u)
    u, t = r.cmd(f'STORE 1:3 (UNCHANGEDSINCE {m2}) +FLAGS (\\Answered)')
    ft.check('[MODIFIED 3]' in t, 'MODIFIED names the one changed since',
             t)
    ft.check(any(ln.startswith('* 1 FETCH') for ln in u) and
             not any(ln.startswith('* 3 FETCH') for ln in u),
             'the others are stored', u)
    u, _ = r.cmd(f'SEARCH MODSEQ {m3}')
    ft.check(u and re.match(r'\* SEARCH( \d+)+ \(MODSEQ \d+\)$', u[0]) and
             ' 3' in u[0], 'SEARCH MODSEQ', u)
    u, _ = r.cmd(f'SEARCH RETURN (MIN) MODSEQ "/flags/\\\\seen" all {h0}')
    ft.check(u and 'MIN 1' in u[0] and 'MODSEQ' in u[0], 'ESEARCH MODSEQ',
             u)
    u, _ = r.cmd('STATUS C1 (HIGHESTMODSEQ MESSAGES)')
    h1 = num(r'HIGHESTMODSEQ (\d+)', u)
    ft.check(h1 is not None and h1 >= m3, 'STATUS HIGHESTMODSEQ', u)
    r.close()


def test_empty_folder_modseq():
    """A folder nothing happened in yet: [HIGHESTMODSEQ 1], not 0 (RFC
    7162 7: a positive mod-sequence-value; K-9 and FairEmail select
    every folder with CONDSTORE), on SELECT and on ENABLE when selected;
    then a delivery is seen by CHANGEDSINCE and UID range as usual."""
    folder('Empty1', 0)
    r = Raw()
    r.cmd('ENABLE CONDSTORE')
    u, t = r.cmd('SELECT Empty1')
    ft.check(num(r'\[HIGHESTMODSEQ (\d+)\]', u) == 1,
             'empty folder: [HIGHESTMODSEQ 1] on SELECT', u)
    r.close()
    r = Raw()
    r.cmd('SELECT Empty1')
    u, t = r.cmd('ENABLE CONDSTORE')
    ft.check(num(r'\[HIGHESTMODSEQ (\d+)\]', u) == 1,
             'empty folder: [HIGHESTMODSEQ 1] on ENABLE', u)
    r.close()


def test_condstore_enabling_fetch():
    """A CONDSTORE enabling command in the selected state says
    HIGHESTMODSEQ first (RFC 7162 3.1)."""
    folder('C2', 1)
    r = Raw()
    u, _ = r.cmd('SELECT C2')
    ft.check(not any('HIGHESTMODSEQ' in ln for ln in u),
             'no HIGHESTMODSEQ unasked', u)
    u, _ = r.cmd('FETCH 1 (MODSEQ)')
    ft.check(len(u) == 2 and 'HIGHESTMODSEQ' in u[0] and 'MODSEQ (' in u[1],
             'HIGHESTMODSEQ then the FETCH', u)
    r.close()


def rename_flags(sub, add):
    """Another Maildir program sets a flag in a file name."""
    d = os.path.join(env.mail_dir(ALICE), '.' + sub, 'cur')
    n = sorted(os.listdir(d))[0]
    base, info = n.split(':2,')
    os.rename(os.path.join(d, n),
              os.path.join(d, f'{base}:2,' + ''.join(sorted(info + add))))


def test_outside_changes_and_restart():
    """Flags changed in the file names bump the modseq, at once and
    while imapd is down; modseqs survive a restart; a lost modseq file
    moves them all above the old ones, UIDVALIDITY unchanged."""
    folder('C3', 3)
    r = Raw()
    r.cmd('ENABLE CONDSTORE')
    u, _ = r.cmd('SELECT C3')
    h0 = num(r'HIGHESTMODSEQ (\d+)', u)
    uv = num(r'UIDVALIDITY (\d+)', u)
    rename_flags('C3', 'F')
    time.sleep(0.1)
    u, _ = r.cmd('NOOP')
    ms = modseqs(u)
    ft.check(len(ms) == 1 and list(ms.values())[0] > h0 and '\\Flagged' in
             u[0], 'outside change: FETCH with a new MODSEQ', u)
    u, _ = r.cmd('UID FETCH 1:* (MODSEQ)')
    before = modseqs(u)
    r.close()
    time.sleep(0.3)
    restart_imapd()
    r = Raw()
    r.cmd('ENABLE CONDSTORE')
    r.cmd('SELECT C3')
    u, _ = r.cmd('UID FETCH 1:* (MODSEQ)')
    ft.check(modseqs(u) == before, 'modseqs survive a restart',
             (before, u))
    h1 = max(before.values())
    r.close()
    env.stop('imapd')
    rename_flags('C3', 'S')
    env.start('imapd', ports=[PORT])
    r = Raw()
    r.cmd('ENABLE CONDSTORE')
    u, _ = r.cmd('SELECT C3')
    u, _ = r.cmd(f'UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h1})')
    ft.check(len(u) == 1 and '\\Seen' in u[0],
             'a change made while imapd was down is newer', u)
    h2 = max(modseqs(u).values())
    r.close()
    env.stop('imapd')
    os.unlink(os.path.join(env.mail_dir(ALICE), '.C3', 'facteur-modseq'))
    env.start('imapd', ports=[PORT])
    r = Raw()
    r.cmd('ENABLE CONDSTORE')
    u, _ = r.cmd('SELECT C3')
    ft.check(num(r'UIDVALIDITY (\d+)', u) == uv, 'lost modseq file: same '
             'UIDVALIDITY', u)
    u, _ = r.cmd(f'UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h2})')
    ft.check(len(u) == 3, 'lost modseq file: every message newer', u)
    r.close()
    env.stop('imapd')
    with open(os.path.join(env.mail_dir(ALICE), '.C3', 'facteur-modseq'),
              'w', encoding='utf-8') as f:
        f.write('garbage\n')
    env.start('imapd', ports=[PORT])
    r = Raw()
    u, _ = r.cmd('STATUS C3 (HIGHESTMODSEQ MESSAGES)')
    ft.check((num(r'HIGHESTMODSEQ (\d+)', u) or 0) > h2 and
             'MESSAGES 3' in u[0], 'corrupt modseq file: recovered', u)
    r.close()


def test_qresync():
    """VANISHED instead of EXPUNGE, SELECT (QRESYNC ...) with VANISHED
    (EARLIER) and changed flags, UID FETCH (CHANGEDSINCE n VANISHED)."""
    folder('Q1', 5)
    a, b = Raw(), Raw()
    u, _ = a.cmd('ENABLE QRESYNC')
    ft.check(u == ['* ENABLED QRESYNC'], 'ENABLE QRESYNC', u)
    u, _ = a.cmd('SELECT Q1')
    uv = num(r'UIDVALIDITY (\d+)', u)
    h0 = num(r'HIGHESTMODSEQ (\d+)', u)
    b.cmd('SELECT Q1')
    b.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)')
    b.cmd('EXPUNGE')
    b.cmd('STORE 3 +FLAGS.SILENT (\\Flagged)')
    u, _ = a.cmd('NOOP')
    ft.check('* VANISHED 2' in u and not any('EXPUNGE' in ln for ln in u),
             'VANISHED, no EXPUNGE', u)
    ft.check(any('* 3 FETCH (UID 4 ' in ln for ln in u) and
             u.index('* VANISHED 2') == 0, 'VANISHED before the FETCH', u)
    a.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
    u, _ = a.cmd('EXPUNGE')
    ft.check(u == ['* VANISHED 1', '* 3 RECENT'],
             'own EXPUNGE says VANISHED (and the RECENT count)', u)
    u, _ = a.cmd(f'UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)')
    ft.check(u and u[0] == '* VANISHED (EARLIER) 1:2' and len(u) == 2 and
             'UID 4' in u[1], 'UID FETCH CHANGEDSINCE VANISHED', u)
    u, t = a.cmd(f'FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)')
    ft.check(t.split()[1] == 'BAD', 'VANISHED needs UID FETCH', t)
    a.cmd('CLOSE')
    u, t = a.cmd(f'SELECT Q1 (QRESYNC ({uv} {h0} 1:5))')
    ft.check('* VANISHED (EARLIER) 1:2' in u, 'SELECT QRESYNC: VANISHED', u)
    ft.check(any(re.match(r'\* 2 FETCH \(UID 4 FLAGS \(\\Flagged\) '
                          r'MODSEQ \(\d+\)\)', ln) for ln in u),
             'SELECT QRESYNC: changed flags', u)
    u, t = a.cmd(f'EXAMINE Q1 (QRESYNC ({uv + 1} {h0}))')
    ft.check(u[0].startswith('* OK [CLOSED]') and
             not any('VANISHED' in ln for ln in u),
             'other UIDVALIDITY: no resync, [CLOSED] first', u)
    u, t = b.cmd(f'SELECT Q1 (QRESYNC ({uv} {h0}))')
    ft.check(t.split()[1] == 'BAD', 'QRESYNC parameter needs ENABLE', t)
    a.close()
    b.close()


def test_unannounced_expunge_flags():
    """A message another session expunged stays in this session's view
    with its flags until EXPUNGE is announced: STORE answers FETCH FLAGS,
    FETCH FLAGS too; pipelined in one write."""
    folder('G1', 3)
    a, b = Raw(), Raw()
    a.cmd('SELECT G1')
    a.cmd('STORE 2 +FLAGS.SILENT (\\Answered)')
    b.cmd('SELECT G1')
    b.cmd('STORE 2 +FLAGS.SILENT (\\Deleted)')
    b.cmd('EXPUNGE')
    tags = a.send('STORE 2 +FLAGS (\\Flagged)', 'FETCH 2 (UID FLAGS)',
                  'NOOP')
    lines = a.read_until(tags[-1])
    st = lines[:lines.index(next(ln for ln in lines
                                 if ln.startswith(tags[0])))]
    ft.check(len(st) == 1 and st[0].startswith('* 2 FETCH') and
             '\\Flagged' in st[0] and '\\Answered' in st[0] and
             '\\Deleted' in st[0], 'STORE on the ghost answers its flags', st)
    fe = [ln for ln in lines if ln.startswith('* 2 FETCH (UID')]
    ft.check(len(fe) == 1 and '\\Flagged' in fe[0], 'FETCH FLAGS of the '
             'ghost', lines)
    ex = [i for i, ln in enumerate(lines) if ln == '* 2 EXPUNGE']
    tg = [i for i, ln in enumerate(lines) if ln.startswith(tags[1] + ' ')]
    ft.check(len(ex) == 1 and ex[0] > tg[0], 'EXPUNGE only with the NOOP',
             lines)
    u, _ = a.cmd('FETCH 1:* (FLAGS)')
    ft.check(len(u) == 2, 'two left', u)
    a.close()
    b.close()


def test_pipelined_condstore():
    """STORE UNCHANGEDSINCE, FETCH CHANGEDSINCE and NOOP in one write
    while another session changes flags: replies in order, each FETCH
    with MODSEQ."""
    folder('P2', 3)
    a, b = Raw(), Raw()
    a.cmd('ENABLE CONDSTORE')
    u, _ = a.cmd('SELECT P2')
    h0 = num(r'HIGHESTMODSEQ (\d+)', u)
    b.cmd('SELECT P2')
    b.cmd('STORE 1 +FLAGS.SILENT (\\Seen)')
    tags = a.send(f'STORE 1:3 (UNCHANGEDSINCE {h0}) +FLAGS.SILENT (\\Draft)',
                  f'FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})', 'NOOP')
    lines = a.read_until(tags[-1])
    t0 = next(ln for ln in lines if ln.startswith(tags[0] + ' '))
    ft.check('[MODIFIED 1]' in t0, 'MODIFIED for the message b changed',
             lines)
    ft.check(all('MODSEQ (' in ln for ln in lines if ln.startswith('* ')),
             'every FETCH has MODSEQ', lines)
    pos = [lines.index(next(ln for ln in lines if ln.startswith(t + ' ')))
           for t in tags]
    ft.check(pos == sorted(pos), 'tagged replies in order', lines)
    a.close()
    b.close()


if __name__ == '__main__':
    ft.main(lambda: env, setup, [test_empty_folder_modseq,
        test_condstore_basics, test_condstore_enabling_fetch,
        test_outside_changes_and_restart, test_qresync,
        test_unannounced_expunge_flags, test_pipelined_condstore])
