# SPDX-License-Identifier: ISC
"""measure_imap_dovecot - facteur-imapd beside a Dovecot test instance on
this machine, both IMAPS, for the figures of imapd/README.md "Measured"
(a tool, not part of make check: it prints a markdown table).

  FACTEUR_BIN=build/bin /usr/bin/python3 tests/integration/measure_imap_dovecot.py

- login: connect + TLS + LOGIN + SELECT INBOX, the first login of each of
  NFIRST users (authd restarted: an empty login cache, so a scrypt each)
  and 10 repeated logins of one user; medians, and LOGIN alone;
- qresync: a 10,000-message folder (NBIG) known to a QRESYNC client, then
  100 flag changes and 10 expunges by another session, then
  SELECT (QRESYNC (uidvalidity modseq)); beside it what a client without
  QRESYNC does (SELECT, UID FETCH 1:* (FLAGS)); median of 3 rounds;
- sort: SORT and THREAD on NBIG generated messages (the generator of
  test_imap_sort_dovecot.py), the first SORT reading every file;
- mem: PSS of each server's process tree with one session, and per extra
  idle session (NSESS logged in, INBOX selected).

DV_SCHEME sets Dovecot's password scheme (PLAIN, the default, or ARGON2ID,
SHA512-CRYPT ...: doveadm pw -l); Dovecot's auth cache stays off, as its
default.  PARTS="login qresync sort mem" chooses.  The load average is
printed beside each figure: the machine may be shared.
"""

import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dovecot_peer  # noqa: E402
import facteur_test as ft  # noqa: E402
import test_imap_sort_dovecot as sd  # noqa: E402

PASS = 'measure pw'
PARTS = os.environ.get('PARTS', 'login qresync sort mem').split()
NFIRST = int(os.environ.get('NFIRST', '5'))
NBIG = int(os.environ.get('NBIG', '10000'))
NSESS = int(os.environ.get('NSESS', '50'))
SCHEME = os.environ.get('DV_SCHEME', 'PLAIN')
USERS = ['alice@example.org'] + [f'u{i}@example.org' for i in range(NFIRST)]
env = ft.Env('measure')
FP = env.port()
DP = env.port()
cert, key = env.make_cert()
env.write_config(imap={'listen': f'127.0.0.1:{FP}', 'timeout': '30m', 'max_per_addr': '500'})
for u in USERS:
    env.add_user(u, PASS)
env.start('authd')
env.start('imapd', ports=[FP])
dv = dovecot_peer.Dovecot(env, 'dv', USERS, PASS, imaps=DP, cert=cert, key=key)
_conf = dv._conf
dv._conf = lambda: _conf() + 'mail_max_userip_connections = 500\n'
assert dv.start(), dv.log()
if SCHEME != 'PLAIN':
    h = subprocess.run(['doveadm', 'pw', '-s', SCHEME, '-p', PASS], capture_output=True,
                       text=True, check=True).stdout.strip()
    with open(os.path.join(dv.dir, 'passwd'), 'w') as f:
        for u in USERS:
            f.write(f'{u}:{h}:{dv.uid}:{dv.gid}::{dv.home(u)}\n')
SERVERS = {'facteur': FP, 'dovecot': DP}
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE
rows = []


def load():
    return '%.1f' % os.getloadavg()[0]


def row(what, f, d, unit='ms'):
    r = (what, f, d, unit, load())
    rows.append(r)
    print('ROW', r, flush=True)


class C:
    """one IMAPS connection, logged in as user when given"""

    def __init__(self, port, user=None):
        self.s = CTX.wrap_socket(socket.create_connection(('127.0.0.1', port)))
        self.s.settimeout(300)
        self.f = self.s.makefile('rb')
        self.n = 0
        self.f.readline()
        if user:
            self.cmd(f'LOGIN "{user}" "{PASS}"')

    def cmd(self, c):
        self.n += 1
        tag = f'x{self.n}'
        self.s.sendall(f'{tag} {c}\r\n'.encode())
        out = []
        while True:
            ln = self.f.readline()
            if not ln:
                raise EOFError(c)
            if ln.startswith(tag.encode() + b' '):
                if not ln.startswith(tag.encode() + b' OK'):
                    raise RuntimeError(f'{c}: {ln!r}')
                return out, ln
            out.append(ln)

    def close(self):
        try:
            self.cmd('LOGOUT')
        except (OSError, EOFError, RuntimeError):
            pass
        self.s.close()


def timed(fn):
    t0 = time.perf_counter()
    r = fn()
    return (time.perf_counter() - t0) * 1000, r


def login_select(port, user):
    t0 = time.perf_counter()
    c = C(port)
    t1 = time.perf_counter()
    c.cmd(f'LOGIN "{user}" "{PASS}"')
    t2 = time.perf_counter()
    c.cmd('SELECT INBOX')
    t3 = time.perf_counter()
    c.close()
    return (t3 - t0) * 1000, (t2 - t1) * 1000


def part_login():
    for port in SERVERS.values():        # the users' Maildirs exist after one login
        for u in USERS[1:]:
            C(port, u).close()
    env.stop('authd')                    # an empty login cache
    env.start('authd')
    time.sleep(1)
    res = {}
    for name, port in SERVERS.items():
        first = [login_select(port, u) for u in USERS[1:]]
        again = [login_select(port, USERS[1]) for _ in range(10)]
        res[name] = (statistics.median(x[0] for x in first), statistics.median(x[1] for x in first),
                     statistics.median(x[0] for x in again), statistics.median(x[1] for x in again))
    row('connect+TLS+LOGIN+SELECT, first login of a user', '%.1f' % res['facteur'][0], '%.1f' % res['dovecot'][0])
    row('  of which LOGIN', '%.1f' % res['facteur'][1], '%.1f' % res['dovecot'][1])
    row('connect+TLS+LOGIN+SELECT, repeated login', '%.1f' % res['facteur'][2], '%.1f' % res['dovecot'][2])
    row('  of which LOGIN', '%.1f' % res['facteur'][3], '%.1f' % res['dovecot'][3])


def fill(box, msgs):
    """create box on both servers, write msgs as files into both Maildirs"""
    for port in SERVERS.values():
        c = C(port, USERS[0])
        c.cmd(f'CREATE {box}')
        c.close()
    sd.put_files(os.path.join(env.mail_dir(USERS[0]), '.' + box, 'cur'), msgs,
                 env.uid if env.as_root else -1, env.gid)
    sd.put_files(os.path.join(dv.maildir(USERS[0]), '.' + box, 'cur'), msgs, dv.uid, dv.gid)


def part_qresync():
    fill('Big', sd.make_msgs(NBIG))
    res = {n: [] for n in SERVERS}
    for rnd in range(3):
        for name, port in SERVERS.items():
            a = C(port, USERS[0])
            a.cmd('ENABLE QRESYNC')
            out, _ = a.cmd('SELECT Big')
            txt = b''.join(out).decode()
            uv = re.search(r'UIDVALIDITY (\d+)', txt).group(1)
            ms = re.search(r'HIGHESTMODSEQ (\d+)', txt).group(1)
            a.close()
            b = C(port, USERS[0])
            b.cmd('SELECT Big')
            uids = [int(x) for x in b.cmd('UID SEARCH ALL')[0][0].split()[2:]]
            step = len(uids) // 110
            chg = uids[rnd::step][:100]
            gone = uids[rnd + step // 2::step][:10]
            for u in chg:
                b.cmd(f'UID STORE {u} +FLAGS.SILENT (%s)' % ('\\Flagged', '\\Seen', '\\Answered')[rnd])
            b.cmd('UID STORE %s +FLAGS.SILENT (\\Deleted)' % ','.join(map(str, gone)))
            b.cmd('UID EXPUNGE %s' % ','.join(map(str, gone)))
            b.close()
            c = C(port, USERS[0])
            c.cmd('ENABLE QRESYNC')
            t, (out, _) = timed(lambda: c.cmd(f'SELECT Big (QRESYNC ({uv} {ms}))'))
            fetches = sum(1 for ln in out if b' FETCH ' in ln)
            van = [ln for ln in out if b'VANISHED' in ln]
            c.close()
            d = C(port, USERS[0])
            t2, (out2, _) = timed(lambda: (d.cmd('SELECT Big'), d.cmd('UID FETCH 1:* (FLAGS)'))[1])
            d.close()
            res[name].append((t, len(out), fetches, t2, len(out2)))
            print(name, rnd, t, len(out), fetches, van[:1], t2, len(out2), flush=True)
    med = {n: [statistics.median(x[i] for x in v) for i in range(5)] for n, v in res.items()}
    row('QRESYNC SELECT after 100 flag changes + 10 expunges (10,000 msgs)',
        '%.1f (%d lines)' % (med['facteur'][0], med['facteur'][1]),
        '%.1f (%d lines)' % (med['dovecot'][0], med['dovecot'][1]))
    row('  without QRESYNC: SELECT + UID FETCH 1:* (FLAGS)',
        '%.1f (%d lines)' % (med['facteur'][3], med['facteur'][4]),
        '%.1f (%d lines)' % (med['dovecot'][3], med['dovecot'][4]))


def part_sort():
    fill('Cmp', sd.make_msgs(NBIG))
    conns = {n: C(p, USERS[0]) for n, p in SERVERS.items()}
    for c in conns.values():
        c.cmd('SELECT Cmp')
    for what in ('SORT (SUBJECT) UTF-8 ALL', 'SORT (SUBJECT) UTF-8 ALL', 'SORT (REVERSE DATE) UTF-8 ALL',
                 'SORT (FROM) UTF-8 ALL', 'THREAD REFERENCES UTF-8 ALL', 'THREAD ORDEREDSUBJECT UTF-8 ALL',
                 'THREAD REFERENCES UTF-8 ALL'):
        t = {n: timed(lambda: c.cmd(what))[0] for n, c in conns.items()}
        row(what, '%.0f' % t['facteur'], '%.0f' % t['dovecot'])
    for c in conns.values():
        c.close()


def tree(pids):
    """pids and all their descendants"""
    kids = {}
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                st = open(f'/proc/{p}/stat').read()
                pp = int(st.rsplit(')', 1)[1].split()[1])
                kids.setdefault(pp, []).append(int(p))
            except OSError:
                pass
    out, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo += kids.get(p, [])
    return out


def pss(pids):
    tot = 0
    for p in tree(pids):
        try:
            for ln in open(f'/proc/{p}/smaps_rollup'):
                if ln.startswith('Pss:'):
                    tot += int(ln.split()[1])
        except OSError:
            pass
    return tot


def part_mem():
    roots = {'facteur': [d.proc.pid for d in env.daemons.values()], 'dovecot': [dv.proc.pid]}
    res = {}
    for name, port in SERVERS.items():
        first = C(port, USERS[0])
        first.cmd('SELECT INBOX')
        time.sleep(1)
        base = pss(roots[name])
        extra = []
        for _ in range(NSESS):
            c = C(port, USERS[0])
            c.cmd('SELECT INBOX')
            extra.append(c)
        time.sleep(2)
        full = pss(roots[name])
        res[name] = (base, (full - base) / NSESS)
        for c in extra + [first]:
            c.close()
    row('all processes, one session open, PSS', '%d KiB' % res['facteur'][0], '%d KiB' % res['dovecot'][0], 'KiB')
    row(f'per extra idle IMAPS session (SELECT INBOX), PSS, {NSESS} sessions',
        '%.0f KiB' % res['facteur'][1], '%.0f KiB' % res['dovecot'][1], 'KiB')


print('facteur', FP, 'dovecot', DP, 'scheme', SCHEME, 'bin', ft.BIN, flush=True)
try:
    # one login each, so every Maildir exists
    for p in SERVERS.values():
        C(p, USERS[0]).close()
    for part in PARTS:
        globals()['part_' + part]()
finally:
    env.stop_all()
    dv.stop()
    print('\n| measure | facteur | Dovecot | load (1 min) |\n| --- | --- | --- | --- |')
    for r in rows:
        print(f'| {r[0]} | {r[1]} | {r[2]} | {r[4]} |')
    env.cleanup()
