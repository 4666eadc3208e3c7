# SPDX-License-Identifier: ISC
"""test_pop3 - POP3 in facteur-imapd with real clients: python poplib
(POP3_SSL and STLS) for every command, raw sockets for the pre-TLS
refusals, AUTH PLAIN and pipelining, fetchmail, getmail6 and curl as
users run them, and IMAP beside POP3 on the same mailbox (UIDL made of
IMAP's UIDs, expunges seen by IMAP after QUIT)."""

import base64
import imaplib
import os
import poplib
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402

ALICE = 'alice@example.org'
BOB = 'bob@example.org'
CAROL = 'carol@example.org'
PASS = 'correct horse'
env = None
POP3S = POP3 = IMAPS = 0
_seq = [0]


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def deliver(addr, subject, body='Hello.\n', raw=None):
    """Write a message into addr's INBOX like an MDA (tmp/ then new/)."""
    _seq[0] += 1
    if raw is None:
        raw = (f'From: Sender <sender@example.net>\nTo: {addr}\n'
               f'Subject: {subject}\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n'
               f'Message-ID: <{_seq[0]}.{time.time()}@test>\n\n{body}')
    env.put_message(addr, raw)
    return raw


def crlf(raw):
    """The CRLF form of a stored message (what LIST counts)."""
    return re.sub(r'(?<!\r)\n', '\r\n', raw).encode()


def maildir_count(addr):
    d = env.mail_dir(addr)
    return sum(len(os.listdir(os.path.join(d, s))) for s in ('new', 'cur')
               if os.path.isdir(os.path.join(d, s)))


def empty(addr):
    d = env.mail_dir(addr)
    for s in ('new', 'cur'):
        p = os.path.join(d, s)
        if os.path.isdir(p):
            for n in os.listdir(p):
                os.unlink(os.path.join(p, n))


def drop(p):
    """Close a poplib session's connection without QUIT."""
    p.sock.shutdown(socket.SHUT_RDWR)
    p.file.close()
    p.sock.close()


def pop(user=ALICE, password=PASS):
    p = poplib.POP3_SSL('127.0.0.1', POP3S, context=ctx(), timeout=30)
    if user:
        p.user(user)
        p.pass_(password)
    return p


class Raw:
    """A line-level POP3 client over a socket (TLS or not)."""

    def __init__(self, port, tls):
        s = socket.create_connection(('127.0.0.1', port), timeout=30)
        if tls:
            s = ctx().wrap_socket(s)
        self.s = s
        self.f = s.makefile('rb')

    def line(self):
        return self.f.readline().decode('latin-1').rstrip('\r\n')

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def cmd(self, line):
        self.send(line + '\r\n')
        return self.line()

    def multi(self):
        lines = []
        while True:
            l = self.line()
            if l == '.':
                return lines
            lines.append(l)

    def starttls(self):
        self.s = ctx().wrap_socket(self.s)
        self.f = self.s.makefile('rb')

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def login_raw(r, user=ALICE):
    r.line()
    ft.check(r.cmd(f'USER {user}').startswith('+OK'), 'USER')
    return r.cmd(f'PASS {PASS}')


def setup():
    global env, POP3S, POP3, IMAPS
    env = ft.Env()
    POP3S, POP3, IMAPS = env.port(), env.port(), env.port()
    env.write_config(imap={'listen': f'127.0.0.1:{IMAPS}', 'timeout': '1m'},
                     pop3={'listen': f'127.0.0.1:{POP3S}',
                           'listen_starttls': f'127.0.0.1:{POP3}',
                           'timeout': '20s'})
    for u in (ALICE, BOB, CAROL):
        env.add_user(u, PASS)
    env.start('authd')
    env.start('imapd', ports=[POP3S, POP3, IMAPS])


# ---------------------------------------------------------------------


def test_prelogin_refusals():
    r = Raw(POP3, False)
    ft.check(r.line().startswith('+OK'), 'greeting on the STLS port')
    ft.check(r.cmd('CAPA').startswith('+OK'), 'CAPA before TLS')
    caps = r.multi()
    ft.check('STLS' in caps and 'USER' not in caps and
             not any(c.startswith('SASL') for c in caps),
             'before TLS: STLS, no USER, no SASL', caps)
    for c in ('RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'UIDL', 'TOP'):
        ft.check(c in caps, f'capability {c}', caps)
    for line in (f'USER {ALICE}', f'PASS {PASS}', 'AUTH PLAIN',
                 'AUTH PLAIN ' + base64.b64encode(
                     f'\0{ALICE}\0{PASS}'.encode()).decode(), 'APOP a b'):
        a = r.cmd(line)
        ft.check(a.startswith('-ERR [AUTH]'), f'refused in clear: {line[:10]}',
                 a)
    ft.check(r.cmd('STAT').startswith('-ERR'), 'STAT before login')
    ft.check(r.cmd('STLS').startswith('+OK'), 'STLS')
    r.starttls()
    ft.check(r.cmd('CAPA').startswith('+OK'), 'CAPA after STLS')
    caps = r.multi()
    ft.check('USER' in caps and 'SASL PLAIN' in caps and 'STLS' not in caps,
             'after TLS: USER and SASL PLAIN, no STLS', caps)
    ft.check(r.cmd('STLS').startswith('-ERR'), 'STLS twice')
    ft.check(login_raw_after_greeting(r).startswith('+OK'), 'login after STLS')
    ft.check(r.cmd('QUIT').startswith('+OK'), 'QUIT')
    r.close()
    # no login in clear reaches authd: nothing was logged for it
    ft.check('proto=pop3 result=fail' not in env.daemons['imapd'].log_text(),
             'no failed login counted for the refused commands')


def login_raw_after_greeting(r, user=ALICE):
    ft.check(r.cmd(f'USER {user}').startswith('+OK'), 'USER')
    return r.cmd(f'PASS {PASS}')


def test_poplib_commands():
    empty(ALICE)
    raws = [deliver(ALICE, 'one', body='line 1\nline 2\nline 3\n'),
            deliver(ALICE, 'dots', body='.leading dot\n..two\n.\nend\n'),
            deliver(ALICE, 'crlf', raw='Subject: crlf\r\n\r\nbody\r\n'),
            deliver(ALICE, 'nolf', raw='Subject: no final newline\n\nx')]
    p = pop()
    ft.check(p.getwelcome().startswith(b'+OK'), 'welcome')
    n, size = p.stat()
    want = [crlf(r) for r in raws]
    ft.check(n == 4 and size == sum(len(w) for w in want), 'STAT', (n, size))
    resp, lst, _ = p.list()
    sizes = [int(l.split()[1]) for l in lst]
    ft.check(sizes == [len(w) for w in want], 'LIST sizes are CRLF octets',
             (sizes, [len(w) for w in want]))
    ft.check(p.list(2).split()[2] == str(len(want[1])).encode(), 'LIST 2')
    for i, w in enumerate(want[:3], 1):
        resp, lines, octets = p.retr(i)
        got = b''.join(l + b'\r\n' for l in lines)
        ft.check(got == w, f'RETR {i} byte for byte (after un-stuffing)',
                 (got, w))
    resp, lines, _ = p.retr(4)
    ft.check(b'\r\n'.join(lines) == want[3], 'RETR of a message without '
             'a final newline', lines)
    resp, lines, _ = p.top(1, 1)
    ft.check(lines[-2:] == [b'', b'line 1'] and b'line 2' not in lines,
             'TOP 1 1', lines)
    resp, lines, _ = p.top(2, 0)
    ft.check(lines[-1] == b'' and b'Subject: dots' in lines, 'TOP 2 0', lines)
    resp, ids, _ = p.uidl()
    ft.check(len(ids) == 4 and all(re.fullmatch(rb'\d+ [0-9A-F]{16}', i)
                                   for i in ids), 'UIDL listing', ids)
    ft.check(p.uidl(3).split()[2] == ids[2].split()[1], 'UIDL 3')
    for bad in ('RETR 9', 'DELE 0', 'TOP 1', 'LIST x', 'XYZZY'):
        try:
            p._shortcmd(bad)
            ft.check(False, f'{bad} refused')
        except poplib.error_proto:
            ft.check(True, f'{bad} refused')
    ft.check(p.noop().startswith(b'+OK'), 'NOOP')
    ft.check(p.dele(1).startswith(b'+OK'), 'DELE 1')
    try:
        p.retr(1)
        ft.check(False, 'RETR of a deleted message refused')
    except poplib.error_proto:
        ft.check(True, 'RETR of a deleted message refused')
    ft.check(p.stat()[0] == 3, 'STAT leaves out deleted messages')
    ft.check(p.rset().startswith(b'+OK'), 'RSET')
    ft.check(p.stat()[0] == 4, 'RSET undeletes')
    p.quit()
    ft.check(maildir_count(ALICE) == 4, 'RSET then QUIT deleted nothing')


def test_wrong_password():
    p = poplib.POP3_SSL('127.0.0.1', POP3S, context=ctx(), timeout=30)
    p.user(ALICE)
    try:
        p.pass_('wrong')
        ft.check(False, 'wrong password refused')
    except poplib.error_proto as e:
        ft.check(str(e).startswith("b'-ERR [AUTH]"), 'wrong password: '
                 '-ERR [AUTH]', str(e))
    p.user(ALICE)
    ft.check(p.pass_(PASS).startswith(b'+OK'), 'then the right one')
    p.quit()


def test_stls_poplib():
    p = poplib.POP3('127.0.0.1', POP3, timeout=30)
    ft.check(b'STLS' in str(p.capa()).encode() or 'STLS' in p.capa(),
             'CAPA lists STLS')
    p.stls(context=ctx())
    p.user(ALICE)
    ft.check(p.pass_(PASS).startswith(b'+OK'), 'login after poplib stls()')
    ft.check(p.stat()[0] >= 0, 'STAT over STLS')
    p.quit()


def test_auth_plain():
    r = Raw(POP3S, True)
    r.line()
    ft.check(r.cmd('AUTH').startswith('+OK') and r.multi() == ['PLAIN'],
             'AUTH lists PLAIN')
    ft.check(r.cmd('AUTH PLAIN').startswith('+ '), 'AUTH PLAIN continuation')
    ft.check(r.cmd('*').startswith('-ERR'), 'AUTH cancelled with *')
    ft.check(r.cmd('AUTH CRAM-MD5').startswith('-ERR'), 'unknown mechanism')
    bad = base64.b64encode(f'\0{ALICE}\0nope'.encode()).decode()
    a = r.cmd('AUTH PLAIN ' + bad)
    ft.check(a.startswith('-ERR [AUTH]'), 'AUTH PLAIN wrong password', a)
    ft.check(r.cmd('AUTH PLAIN').startswith('+ '), 'continuation again')
    good = base64.b64encode(f'{ALICE}\0{ALICE}\0{PASS}'.encode()).decode()
    a = r.cmd(good)
    ft.check(a.startswith('+OK'), 'AUTH PLAIN with authzid = authcid', a)
    ft.check(r.cmd('CAPA').startswith('+OK'), 'CAPA after login')
    caps = r.multi()
    ft.check('USER' not in caps and 'STLS' not in caps, 'CAPA in '
             'TRANSACTION', caps)
    ft.check(r.cmd('USER x').startswith('-ERR'), 'USER after login')
    ft.check(r.cmd('QUIT').startswith('+OK'), 'QUIT')
    r.close()
    r = Raw(POP3S, True)
    r.line()
    a = r.cmd('AUTH PLAIN ' + base64.b64encode(
        f'\0{BOB}\0{PASS}'.encode()).decode())
    ft.check(a.startswith('+OK'), 'AUTH PLAIN with initial response', a)
    r.close()


def worker_closed(user):
    """How many of user's POP3 sessions a worker has logged as closed"""
    return len(re.findall(rf'imapd-worker\[\d+\]: session=\S+ addr=\S+ '
                          rf'user={re.escape(user)} pop3 closed',
                          env.daemons['imapd'].log_text()))


def test_dele_at_quit_only():
    empty(BOB)
    for i in range(3):
        deliver(BOB, f'keep {i}')
    p = pop(BOB)
    for i in (1, 2, 3):
        p.dele(i)
    closed = worker_closed(BOB)
    drop(p)                 # dropped: no QUIT, no UPDATE
    # the worker ends that session before it takes a new one (else the
    # new one would find the maildrop held: -ERR [IN-USE])
    ft.check(ft.wait_for(lambda: worker_closed(BOB) > closed),
             'the worker ends the dropped session')
    p = pop(BOB)
    ft.check(maildir_count(BOB) == 3, 'a dropped connection deletes nothing')
    ft.check(p.stat()[0] == 3, 'all three still listed')
    p.dele(2)
    ft.check(maildir_count(BOB) == 3, 'DELE alone deletes nothing')
    p.quit()
    ft.check(maildir_count(BOB) == 2, 'QUIT deletes what DELE marked')
    p = pop(BOB)
    subjects = [b for i in (1, 2) for b in p.top(i, 0)[1]
                if b.startswith(b'Subject')]
    ft.check(subjects == [b'Subject: keep 0', b'Subject: keep 2'],
             'the right one went', subjects)
    p.quit()


def test_in_use():
    p = pop(BOB)
    q = poplib.POP3_SSL('127.0.0.1', POP3S, context=ctx(), timeout=30)
    q.user(BOB)
    try:
        q.pass_(PASS)
        ft.check(False, 'second POP3 session refused')
    except poplib.error_proto as e:
        ft.check('[IN-USE]' in str(e), 'second session: -ERR [IN-USE]', str(e))
    p.quit()
    q = pop(BOB)
    ft.check(q.stat()[0] == 2, 'free again after QUIT')
    q.quit()


def imap_uids(user):
    m = imaplib.IMAP4_SSL('127.0.0.1', IMAPS, ssl_context=ctx(), timeout=30)
    m.login(user, PASS)
    m.select('INBOX')
    uv = int(m.response('UIDVALIDITY')[1][0])
    typ, data = m.uid('SEARCH', 'ALL')
    uids = [int(x) for x in data[0].split()]
    return m, uv, uids


def test_uidl_and_imap():
    empty(CAROL)
    for i in range(5):
        deliver(CAROL, f'u{i}')
    p = pop(CAROL)
    ids1 = [l.split()[1].decode() for l in p.uidl()[1]]
    p.quit()
    p = pop(CAROL)
    ids2 = [l.split()[1].decode() for l in p.uidl()[1]]
    p.quit()
    ft.check(ids1 == ids2 and len(set(ids1)) == 5, 'UIDL stable across '
             'sessions', (ids1, ids2))
    m, uv, uids = imap_uids(CAROL)
    ft.check(ids1 == ['%08X%08X' % (u, uv) for u in uids], 'UIDL = IMAP UID '
             'and UIDVALIDITY', (ids1, uv, uids))
    # IMAP expunges one: the others keep their UIDL
    m.uid('STORE', str(uids[1]), '+FLAGS', '(\\Deleted)')
    m.expunge()
    p = pop(CAROL)
    ids3 = [l.split()[1].decode() for l in p.uidl()[1]]
    ft.check(ids3 == ids1[:1] + ids1[2:], 'UIDL unchanged after an IMAP '
             'expunge', ids3)
    # RETR marks \Seen for IMAP at QUIT; DELE + QUIT is an expunge for IMAP
    p.retr(1)
    p.dele(2)
    typ, data = m.noop()
    p.quit()
    time.sleep(0.2)
    typ, data = m.noop()
    expunges = [x for x in m.untagged_responses.get('EXPUNGE', [])]
    ft.check(expunges == [b'2'], 'IMAP sees the expunge after POP3 QUIT',
             (typ, data, m.untagged_responses))
    typ, data = m.fetch('1', '(FLAGS)')
    ft.check(b'\\Seen' in data[0], 'RETR made message 1 \\Seen', data)
    typ, data = m.uid('SEARCH', 'ALL')
    ft.check([int(x) for x in data[0].split()] == [uids[0]] + uids[3:],
             'IMAP UIDs after POP3 QUIT', data)
    m.logout()


def test_imap_idle_sees_expunge():
    empty(CAROL)
    for i in range(2):
        deliver(CAROL, f'idle {i}')
    m, uv, uids = imap_uids(CAROL)
    tag = m._new_tag().decode()
    m.send(f'{tag} IDLE\r\n'.encode())
    ft.check(m.readline().startswith(b'+'), 'IDLE started')
    p = pop(CAROL)
    p.dele(1)
    p.quit()
    m.sock.settimeout(5)
    line = m.readline()
    ft.check(line.strip() == b'* 1 EXPUNGE', 'IDLE gets the EXPUNGE', line)
    m.send(b'DONE\r\n')
    while not m.readline().startswith(tag.encode()):
        pass
    m.logout()


def test_pipelining():
    empty(CAROL)
    raws = [deliver(CAROL, f'pipe {i}', body='x' * 5000 + '\n')
            for i in range(3)]
    r = Raw(POP3S, True)
    r.line()
    r.send(f'USER {CAROL}\r\nPASS {PASS}\r\nSTAT\r\nLIST\r\nRETR 1\r\n'
           'UIDL 2\r\nDELE 3\r\nNOOP\r\nQUIT\r\n')
    ft.check(r.line().startswith('+OK'), 'pipelined USER')
    ft.check(r.line().startswith('+OK maildrop has 3'), 'pipelined PASS')
    ft.check(r.line().startswith('+OK 3 '), 'pipelined STAT')
    ft.check(r.line().startswith('+OK') and len(r.multi()) == 3,
             'pipelined LIST')
    ft.check(r.line().startswith('+OK'), 'pipelined RETR')
    body = r.multi()
    ft.check(('\r\n'.join(body) + '\r\n').encode() == crlf(raws[0]),
             'pipelined RETR body')
    ft.check(r.line().startswith('+OK 2 '), 'pipelined UIDL 2')
    ft.check(r.line().startswith('+OK'), 'pipelined DELE')
    ft.check(r.line().startswith('+OK'), 'pipelined NOOP')
    ft.check(r.line().startswith('+OK'), 'pipelined QUIT')
    r.close()
    time.sleep(0.2)
    ft.check(maildir_count(CAROL) == 2, 'pipelined DELE applied at QUIT')


def test_bad_input():
    r = Raw(POP3S, True)
    r.line()
    a = r.cmd('X' * 10000)
    ft.check(a.startswith('-ERR'), 'runaway line refused', a)
    ft.check(r.cmd('NOOP\0').startswith('-ERR'), 'NUL refused')
    ft.check(r.cmd('PASS x').startswith('-ERR'), 'PASS without USER')
    ft.check(login_raw_after_greeting(r).startswith('+OK'), 'session goes on')
    ft.check(r.cmd('TOP 1 99999999999').startswith('-ERR'), 'huge number')
    r.close()


def test_big_message():
    empty(CAROL)
    body = ''.join(f'{i:07d} ' + 'y' * 70 + '\n' for i in range(60000))
    raw = deliver(CAROL, 'big', body=body)
    p = pop(CAROL)
    resp, lines, octets = p.retr(1)
    got = b''.join(l + b'\r\n' for l in lines)
    ft.check(got == crlf(raw), 'a 4.7 MB message byte for byte', len(got))
    p.quit()


def test_curl():
    empty(CAROL)
    raw = deliver(CAROL, 'curl')
    r = subprocess.run(['curl', '-sk', '--user', f'{CAROL}:{PASS}',
                        f'pop3s://127.0.0.1:{POP3S}/1'], capture_output=True,
                       timeout=60)
    ft.check(r.returncode == 0 and r.stdout == crlf(raw), 'curl pop3s RETR',
             (r.returncode, r.stdout[:200], r.stderr))
    r = subprocess.run(['curl', '-sk', '--ssl-reqd', '--user',
                        f'{CAROL}:{PASS}', f'pop3://127.0.0.1:{POP3}/'],
                       capture_output=True, timeout=60)
    ft.check(r.returncode == 0 and r.stdout.startswith(b'1 '),
             'curl pop3 with STLS: LIST', (r.returncode, r.stdout, r.stderr))


def _mda_dir(name):
    d = os.path.join(env.tmp, name)
    os.makedirs(d, exist_ok=True)
    return d


def test_fetchmail():
    empty(ALICE)
    raws = [deliver(ALICE, f'fm {i}', body=f'fetchmail {i}\n.dot\n')
            for i in range(5)]
    out = _mda_dir('fetchmail-out')
    home = _mda_dir('fetchmail-home')
    rc = os.path.join(home, 'fetchmailrc')
    mda = os.path.join(home, 'mda.sh')
    with open(mda, 'w', encoding='utf-8') as f:
        f.write(f'#!/bin/sh\ncat > "$(mktemp {out}/m.XXXXXX)"\n')
    os.chmod(mda, 0o755)
    with open(rc, 'w', encoding='utf-8') as f:
        f.write(f'poll 127.0.0.1 with proto pop3 port {POP3S}\n'
                f'  user "{ALICE}" there with password "{PASS}" is "x" here\n'
                f'  options ssl no sslcertck fetchall nokeep\n'
                f'  mda "{mda}"\n')
    os.chmod(rc, 0o600)
    e = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = subprocess.run(['fetchmail', '-f', rc, '--nodetach', '--invisible',
                        '--nosyslog'], capture_output=True, timeout=120, env=e)
    got = sorted(open(os.path.join(out, n), 'rb').read()
                 for n in os.listdir(out))
    ft.check(r.returncode == 0 and len(got) == 5, 'fetchmail got 5',
             (r.returncode, r.stdout, r.stderr, len(got)))
    want = sorted(x.encode() for x in raws)
    ft.check(got == want, 'fetchmail: byte for byte (LF form)',
             (got[:1], want[:1]))
    ft.check(maildir_count(ALICE) == 0, 'fetchmail deleted them')


def test_getmail():
    empty(ALICE)
    raws = [deliver(ALICE, f'gm {i}', body=f'getmail {i}\n') for i in range(4)]
    md = _mda_dir('getmail-md')
    for s in ('tmp', 'new', 'cur'):
        os.makedirs(os.path.join(md, s), exist_ok=True)
    gdir = _mda_dir('getmail-home')
    rc = os.path.join(gdir, 'getmailrc')
    with open(rc, 'w', encoding='utf-8') as f:
        f.write('[retriever]\ntype = SimplePOP3SSLRetriever\n'
                f'server = 127.0.0.1\nport = {POP3S}\nusername = {ALICE}\n'
                f'password = {PASS}\n\n'
                f'[destination]\ntype = Maildir\npath = {md}/\n'
                + (f'user = {env.user}\n' if env.as_root else '') + '\n'
                '[options]\nread_all = true\ndelete = true\n'
                'delivered_to = false\nreceived = false\nverbose = 0\n')
    for d in (md, *(os.path.join(md, s) for s in ('tmp', 'new', 'cur'))):
        env.chown(d)
    r = subprocess.run(['getmail', '--getmaildir', gdir, '--rcfile', rc],
                       capture_output=True, timeout=60)
    got = sorted(open(os.path.join(md, 'new', n), 'rb').read()
                 for n in os.listdir(os.path.join(md, 'new')))
    ft.check(r.returncode == 0 and len(got) == 4, 'getmail got 4',
             (r.returncode, r.stdout, r.stderr, len(got)))
    # getmail puts Return-Path on top; the rest is the message
    stripped = sorted(re.sub(rb'^Return-Path: .*\n', b'', g) for g in got)
    ft.check(stripped == sorted(x.encode() for x in raws),
             'getmail: byte for byte', (stripped[:1], raws[:1]))
    ft.check(maildir_count(ALICE) == 0, 'getmail deleted them')


def test_login_delay_and_logs():
    log = env.daemons['imapd'].log_text()
    ft.check('proto=pop3 result=ok' in log, 'logins logged')
    ft.check(PASS not in log, 'no password in the log')


def main():
    setup()
    ft.run_tests(env, [test_prelogin_refusals, test_poplib_commands,
                       test_wrong_password, test_stls_poplib, test_auth_plain,
                       test_dele_at_quit_only, test_in_use, test_uidl_and_imap,
                       test_imap_idle_sees_expunge, test_pipelining,
                       test_bad_input, test_big_message, test_curl,
                       test_fetchmail, test_getmail,
                       test_login_delay_and_logs])


if __name__ == '__main__':
    main()
