# SPDX-License-Identifier: ISC
"""test_imap_sort - SORT, ESORT and SORT=DISPLAY (RFC 5256, 5267, 5957),
THREAD REFERENCES and ORDEREDSUBJECT (RFC 5256), BINARY (RFC 3516) and
CATENATE (RFC 4469) with Python's imaplib (raw commands where it cannot): tricky subjects (Re:/Fwd:/[tag], "(fwd)",
encoded words), dates with time zones or missing, missing headers, a
known thread tree, UID forms, and a folder big enough that SORT runs in
slices while another session of the same worker is answered at once.
SORT_BIG=N (environment) sizes that folder (default 4000) and prints
the times, for measuring by hand."""

import imaplib
import os
import re
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402

ALICE = 'alice@example.org'
PASS = 'correct horse'
env = None
PORT = 0
BIG = int(os.environ.get('SORT_BIG', '4000'))


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def login():
    m = imaplib.IMAP4_SSL('127.0.0.1', PORT, ssl_context=ctx(), timeout=60)
    m.login(ALICE, PASS)
    return m


def msg(hdrs, body='body\r\n'):
    h = ''.join(f'{k}: {v}\r\n' for k, v in hdrs)
    return (h + '\r\n' + body).encode('utf-8')


def fill(m, box, msgs):
    m.create(box)
    for hdrs, date in msgs:
        typ, _ = m.append(box, None, f'"{date}"', msg(hdrs))
        ft.check(typ == 'OK', f'append to {box}')
    typ, _ = m.select(box)
    ft.check(typ == 'OK', f'select {box}')


def sort(m, crit, *search, uid=False, charset='UTF-8'):
    if uid:
        typ, dat = m.uid('SORT', crit, charset, *(search or ('ALL',)))
    else:
        typ, dat = m.sort(crit, charset, *(search or ('ALL',)))
    if typ != 'OK':
        return typ
    return [int(x) for x in dat[0].split()] if dat and dat[0] else []


def thread(m, alg, *search, uid=False):
    if uid:
        typ, dat = m.uid('THREAD', alg, 'UTF-8', *(search or ('ALL',)))
    else:
        typ, dat = m.thread(alg, 'UTF-8', *(search or ('ALL',)))
    if typ != 'OK':
        return typ
    return dat[0].decode() if dat and dat[0] else ''


SORTMSGS = [
    ([('Subject', '[list] Re: Fwd: banana (fwd)'),
      ('From', 'Zed <zed@b.example>'), ('To', 'x@y.example'),
      ('Date', 'Mon, 1 Jan 2024 10:00:00 +0200')], '01-Jan-2024 00:00:00 +0000'),
    ([('Subject', '=?utf-8?q?Apple_pie?='),
      ('From', '=?iso-8859-1?q?=C9mile?= <emile@x.example>'),
      ('Cc', 'carol@c.example'),
      ('Date', 'Mon, 1 Jan 2024 09:00:00 +0000')], '01-Jan-2024 00:00:01 +0000'),
    ([('Subject', 're: [fwd: cherry]'), ('From', 'alice@a.example'),
      ('To', 'Team: bob@b.example, carol@c.example;'),
      ('Date', 'Sun, 31 Dec 2023 23:30:00 -0500 (EST)')],
     '01-Jan-2024 00:00:02 +0000'),
    ([('X-Nothing', 'no subject, from, date')], '02-Jan-2024 00:00:00 +0000'),
    ([('Subject', 'Apple'), ('From', 'Bob <bob@c.example>'),
      ('To', '"Adam" <zz@z.example>'),
      ('Date', '1 Jan 2024 08:30 GMT')], '01-Jan-2024 00:00:03 +0000'),
]


def test_sort_keys():
    """Every key, REVERSE, ties by sequence number, missing headers."""
    m = login()
    fill(m, 'Sorting', SORTMSGS)
    cases = [
        ('(SUBJECT)', [4, 5, 2, 1, 3]),
        ('(REVERSE SUBJECT)', [3, 1, 2, 5, 4]),
        ('(DATE)', [3, 1, 5, 2, 4]),
        ('(REVERSE DATE)', [4, 2, 5, 1, 3]),
        ('(ARRIVAL)', [1, 2, 3, 5, 4]),
        ('(FROM)', [4, 3, 5, 2, 1]),
        # missing Cc: empty, ties by sequence number
        ('(CC)', [1, 3, 4, 5, 2]),
        ('(REVERSE CC ARRIVAL)', [2, 1, 3, 5, 4]),
        # the group's name, then mailboxes
        ('(TO)', [2, 4, 3, 1, 5]),
        # the display name (decoded, accents after their letter)
        ('(DISPLAYFROM)', [4, 3, 5, 2, 1]),
        ('(DISPLAYTO)', [2, 4, 5, 3, 1]),
        ('(SIZE)', None),
    ]
    for crit, want in cases:
        got = sort(m, crit)
        if want is None:
            ft.check(isinstance(got, list) and len(got) == 5, crit, got)
            continue
        ft.check(got == want, f'SORT {crit}', got)
    # UID SORT gives UIDs; search keys narrow it
    typ, dat = m.uid('SEARCH', 'ALL')
    uids = [int(x) for x in dat[0].split()]
    got = sort(m, '(SUBJECT)', uid=True)
    ft.check(got == [uids[i - 1] for i in (4, 5, 2, 1, 3)], 'UID SORT', got)
    ft.check(sort(m, '(DATE)', 'SUBJECT', 'apple') == [5, 2],
             'SORT with a search key', sort(m, '(DATE)', 'SUBJECT', 'apple'))
    ft.check(sort(m, '(DATE)', 'SUBJECT', 'nothing') == [],
             'SORT matching nothing')
    ft.check(sort(m, '(SUBJECT)', 'ALL', charset='KOI8-R') == 'NO',
             'unknown charset: NO')
    for bad in ('(SUBJECT REVERSE)', '(BOGUS)', '()', '(REVERSE REVERSE DATE)'):
        try:
            r = sort(m, bad)
        except imaplib.IMAP4.error:
            r = 'BAD'
        ft.check(r == 'BAD', f'bad criteria {bad}', r)
    # ESORT (RFC 5267)
    typ, dat = m._simple_command('SORT', 'RETURN', '(MIN MAX COUNT ALL)',
                                 '(DATE)', 'UTF-8', 'ALL')
    _, esr = m._untagged_response(typ, dat, 'ESEARCH')
    line = esr[0].decode() if esr and esr[0] else ''
    ft.check(typ == 'OK' and 'MIN 3' in line and 'MAX 4' in line and
             'COUNT 5' in line and 'ALL 3,1,5,2,4' in line, 'ESORT', line)
    m.logout()


SUBJ = [
    'Re: [PATCH] Re: fix', 'FW: fix', '[foo] [bar] fix', '[only-blob]',
    'Fwd: Re: [x] re[2]: fix (fwd) (Fwd)', '[Fwd: [fwd: fix]]',
    '=?utf-8?b?UmU6IGZpeA==?=', 'Ad: fix', 'fix\t  two', '',
]


def test_base_subject():
    """RFC 5256 2.1 through ORDEREDSUBJECT: which subjects thread together."""
    m = login()
    msgs = [([('Subject', s), ('Date', f'Tue, 2 Jan 2024 10:{i:02d}:00 +0000')],
             '02-Jan-2024 00:00:00 +0000') for i, s in enumerate(SUBJ)]
    fill(m, 'Subjects', msgs)
    got = thread(m, 'ORDEREDSUBJECT')
    # "fix": 1 2 3 5 6 7; "[only-blob]" 4; "Ad: fix" 8; "fix two" 9; "" 10
    want = '(1 (2)(3)(5)(6)(7))(4)(8)(9)(10)'
    ft.check(got == want, 'ORDEREDSUBJECT base subjects', got)
    got = sort(m, '(SUBJECT)')
    ft.check(got == [10, 8, 1, 2, 3, 5, 6, 7, 9, 4], 'SORT SUBJECT', got)
    m.logout()


THREADMSGS = [
    ([('Message-ID', '<m1@x>'), ('Subject', 'Plan'),
      ('Date', 'Mon, 1 Jan 2024 10:00:00 +0000')], '01-Jan-2024 00:00:00 +0000'),
    ([('Message-ID', '<m2@x>'), ('In-Reply-To', '<m1@x> (Plan)'),
      ('Subject', 'Re: Plan'), ('Date', 'Mon, 1 Jan 2024 13:00:00 +0200')],
     '01-Jan-2024 00:00:00 +0000'),
    ([('Message-ID', '<m3@x>'), ('References', '<m1@x>\r\n <m2@x>'),
      ('Subject', 'Re: Re: Plan'), ('Date', 'Mon, 1 Jan 2024 12:00:00 +0000')],
     '01-Jan-2024 00:00:00 +0000'),
    ([('Message-ID', '<m4@x>'), ('References', '<m1@x>'),
      ('Subject', 'Re: Plan'), ('Date', 'Mon, 1 Jan 2024 11:30:00 +0000')],
     '01-Jan-2024 00:00:00 +0000'),
    ([('Message-ID', '<m5@x>'), ('Subject', 'Other'),
      ('Date', 'Tue, 2 Jan 2024 09:00:00 +0100')], '01-Jan-2024 00:00:00 +0000'),
    ([('Message-ID', '<m6@x>'), ('References', '<missing@x>'),
      ('Subject', 'Re: Other'), ('Date', 'Tue, 2 Jan 2024 10:00:00 +0000')],
     '01-Jan-2024 00:00:00 +0000'),
    ([('Subject', 'Lonely')], '04-Jan-2024 00:00:00 +0000'),
    ([('Message-ID', '<m8@x>'), ('References', '<gone@x>'),
      ('Subject', 'Split'), ('Date', 'Wed, 3 Jan 2024 10:00:00 +0000')],
     '01-Jan-2024 00:00:00 +0000'),
    ([('Message-ID', '<m9@x>'), ('References', '<gone@x>'),
      ('Subject', 'Split'), ('Date', 'Wed, 3 Jan 2024 09:00:00 +0000')],
     '01-Jan-2024 00:00:00 +0000'),
]


def test_thread():
    """A known message set: REFERENCES tree, ORDEREDSUBJECT, UID THREAD,
    and the tree after an expunge."""
    m = login()
    fill(m, 'Threads', THREADMSGS)
    got = thread(m, 'REFERENCES')
    ft.check(got == '(1 (2 3)(4))(5 6)((9)(8))(7)', 'THREAD REFERENCES', got)
    got = thread(m, 'ORDEREDSUBJECT')
    ft.check(got == '(1 (2)(4)(3))(5 6)(9 8)(7)', 'THREAD ORDEREDSUBJECT', got)
    typ, dat = m.uid('SEARCH', 'ALL')
    u = [int(x) for x in dat[0].split()]
    got = thread(m, 'REFERENCES', uid=True)
    want = f'({u[0]} ({u[1]} {u[2]})({u[3]}))({u[4]} {u[5]})(({u[8]})({u[7]}))({u[6]})'
    ft.check(got == want, 'UID THREAD REFERENCES', got)
    got = thread(m, 'REFERENCES', 'SUBJECT', 'split')
    ft.check(got == '((9)(8))', 'THREAD with a search key', got)
    got = thread(m, 'REFERENCES', 'SUBJECT', 'nothing-matches')
    ft.check(got == '', 'THREAD matching nothing', got)
    try:
        r = thread(m, 'BOGUS')
    except imaplib.IMAP4.error:
        r = 'BAD'
    ft.check(r == 'BAD', 'unknown algorithm: BAD', r)
    # expunge the root: its replies become roots, 3 stays under 2
    m.store('1', '+FLAGS.SILENT', '(\\Deleted)')
    m.expunge()
    got = thread(m, 'REFERENCES')
    ft.check(got == '((1 2)(3))(4 5)((8)(7))(6)', 'THREAD after expunge', got)
    m.logout()


RAW = bytes(range(256)) + b'\r\n\rbare\n\x00end'
QP_BODY = 'caf=C3=A9 x=3Dy  \r\nsoft=\r\nbreak= \t\r\nlast'
QP_WANT = 'café x=y\r\nsoftbreaklast'.encode()


def binary_msg():
    import base64
    b64 = base64.encodebytes(RAW).decode().replace('\n', '\r\n')
    return ('From: a@b\r\nSubject: bin\r\nMIME-Version: 1.0\r\n'
            'Content-Type: multipart/mixed; boundary=zz\r\n\r\n'
            '--zz\r\nContent-Type: application/octet-stream\r\n'
            'Content-Transfer-Encoding: BASE64\r\n\r\n' + b64 +
            '--zz\r\nContent-Type: text/plain; charset=utf-8\r\n'
            'Content-Transfer-Encoding: quoted-printable\r\n\r\n' + QP_BODY +
            '\r\n--zz\r\nContent-Type: text/plain\r\n'
            'Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n'
            '--zz--\r\n').encode()


def raw_append(box, data):
    """APPEND with a literal8 (imaplib has none): the tagged reply"""
    import socket
    s = ctx().wrap_socket(socket.create_connection(('127.0.0.1', PORT)))
    f = s.makefile('rwb')
    f.readline()
    f.write(f'a LOGIN "{ALICE}" "{PASS}"\r\n'.encode())
    f.flush()
    while not f.readline().startswith(b'a '):
        pass
    f.write(f'b APPEND {box} ~{{{len(data)}}}\r\n'.encode())
    f.flush()
    cont = f.readline()
    f.write(data + b'\r\n')
    f.flush()
    while True:
        ln = f.readline()
        if ln.startswith(b'b ') or not ln:
            break
    s.close()
    return cont, ln.decode().strip()


def test_binary():
    """BINARY, BINARY.PEEK, BINARY.SIZE (RFC 3516): base64 and
    quoted-printable undone, partial ranges, literal8, UNKNOWN-CTE,
    \\Seen, and APPEND of a literal8 with NULs and bare CR read back."""
    m = login()
    m.create('Bin')
    typ, _ = m.append('Bin', None, None, binary_msg())
    ft.check(typ == 'OK', 'append the MIME message')
    m.select('Bin')
    typ, dat = m.fetch('1', '(BINARY.SIZE[1] BINARY.SIZE[2] BINARY.PEEK[1])')
    head = dat[0][0].decode() if dat and isinstance(dat[0], tuple) else ''
    ft.check(f'BINARY.SIZE[1] {len(RAW)}' in head and
             f'BINARY.SIZE[2] {len(QP_WANT)}' in head, 'BINARY.SIZE', head)
    ft.check(head.endswith(f'~{{{len(RAW)}}}'), 'literal8 for NUL', head)
    ft.check(dat[0][1] == RAW, 'BINARY[1]: base64 decoded byte for byte',
             dat[0][1][:40])
    typ, dat = m.fetch('1', '(BINARY.PEEK[2] BINARY.PEEK[1]<256.5>)')
    got = [x[1] for x in dat if isinstance(x, tuple)]
    ft.check(typ == 'OK' and got == [QP_WANT, RAW[256:261]],
             'BINARY[2] quoted-printable, BINARY[1]<256.5>', got)
    typ, dat = m.fetch('1', '(FLAGS)')
    ft.check(b'\\Seen' not in dat[0], 'BINARY.PEEK leaves \\Seen', dat)
    typ, dat = m.fetch('1', '(BINARY[3])')
    ft.check(typ == 'NO' and b'UNKNOWN-CTE' in (dat[0] or b''),
             'unknown encoding: NO [UNKNOWN-CTE]', (typ, dat))
    typ, dat = m.fetch('1', '(BINARY[2] FLAGS)')
    ft.check(typ == 'OK' and b'\\Seen' in str(dat).encode(),
             'BINARY sets \\Seen', dat)
    typ, dat = m.fetch('1', '(BINARY.SIZE[] RFC822.SIZE)')
    line = dat[0].decode() if isinstance(dat[0], bytes) else str(dat)
    nums = re.findall(r'(?:BINARY\.SIZE\[\]|RFC822\.SIZE) (\d+)', line)
    ft.check(len(nums) == 2 and nums[0] == nums[1], 'BINARY.SIZE[] of the '
             'whole message is its size', line)
    for bad in ('(BINARY[1.HEADER])', '(BINARY.SIZE[1]<0.5>)',
                '(BINARY[TEXT])'):
        try:
            typ, _ = m.fetch('1', bad)
        except imaplib.IMAP4.error:
            typ = 'BAD'
        ft.check(typ == 'BAD', f'bad BINARY section {bad}', typ)
    # APPEND literal8: stored as base64, read back exact
    body = b'\x00\x01\rbare CR\nbare LF\r\n\xff'
    data = (b'From: a@b\r\nSubject: raw\r\nMIME-Version: 1.0\r\n'
            b'Content-Type: application/octet-stream\r\n'
            b'Content-Transfer-Encoding: binary\r\n\r\n' + body)
    cont, tagged = raw_append('Bin', data)
    ft.check(cont.startswith(b'+') and ' OK ' in tagged, 'APPEND ~{n}',
             (cont, tagged))
    m.noop()
    typ, dat = m.fetch('2', '(BINARY.PEEK[1] BODY.PEEK[1] BINARY.SIZE[1])')
    got = [x[1] for x in dat if isinstance(x, tuple)]
    ft.check(len(got) == 2 and got[0] == body and b'\x00' not in got[1],
             'literal8 APPEND read back by BINARY, stored as base64', got)
    m.logout()


def raw_session():
    import socket
    s = ctx().wrap_socket(socket.create_connection(('127.0.0.1', PORT)))
    f = s.makefile('rwb')
    f.readline()
    f.write(f'a LOGIN "{ALICE}" "{PASS}"\r\n'.encode())
    f.flush()
    while not f.readline().startswith(b'a '):
        pass
    return s, f


def raw_cmd(f, tag, parts):
    """parts: str pieces and bytes literals (sent as LITERAL+); the
    tagged reply line"""
    data = f'{tag} '.encode()
    for p in parts:
        if isinstance(p, bytes):
            data += f'{{{len(p)}+}}\r\n'.encode() + p
        else:
            data += p.encode()
    f.write(data + b'\r\n')
    f.flush()
    while True:
        ln = f.readline()
        if not ln or ln.startswith(tag.encode() + b' '):
            return ln.decode(errors='replace').strip()


def test_catenate():
    """APPEND CATENATE (RFC 4469): text and sections of stored messages
    by relative IMAP URLs, PARTIAL, MULTIAPPEND; a bad URL stores
    nothing (BADURL), a missing target says TRYCREATE first, and a URL
    cannot leave the user's Maildir."""
    m = login()
    m.create('Cat')
    m.append('Cat', None, None, b'From: a@b\r\nSubject: src\r\n\r\nsource body\r\n')
    typ, dat = m.select('Cat')
    typ, dat = m.uid('SEARCH', 'ALL')
    uid = int(dat[0].split()[-1])
    typ, dat = m.status('Cat', '(UIDVALIDITY)')
    uv = int(re.search(rb'UIDVALIDITY (\d+)', dat[0]).group(1))
    s, f = raw_session()
    t = raw_cmd(f, 'c1', [f'APPEND Cat (\\Seen) CATENATE (URL "/Cat;UIDVALIDITY={uv}/;UID={uid}/;SECTION=HEADER" TEXT ',
                          b'new body\r\n', f' URL "/Cat/;UID={uid}/;SECTION=TEXT" URL "/Cat/;UID={uid}/;PARTIAL=6.3")'])
    ft.check(' OK ' in t, 'APPEND CATENATE', t)
    t = raw_cmd(f, 'c2', [f'APPEND Cat CATENATE (TEXT ', b'X: 1\r\n\r\n',
                          f') CATENATE (URL "/Cat/;UID={uid}")'])
    ft.check(' OK ' in t, 'MULTIAPPEND of two CATENATE', t)
    for url, what in ((f'/Cat;UIDVALIDITY={uv + 1}/;UID={uid}', 'UIDVALIDITY'),
                      (f'/Cat/;UID={uid + 100}', 'missing UID'),
                      (f'/Cat/;UID={uid}/;SECTION=9.HEADER', 'no such part'),
                      ('/../../etc/;UID=1', 'outside the Maildir'),
                      (f'imap://x@y/Cat/;UID={uid}', 'absolute URL')):
        t = raw_cmd(f, 'c3', [f'APPEND Cat CATENATE (TEXT ', b'Y: 1\r\n',
                              f' URL "{url}")'])
        ft.check(' NO [BADURL' in t, f'BADURL: {what}', t)
    t = raw_cmd(f, 'c4', [f'APPEND Nope CATENATE (URL "/Cat;UIDVALIDITY=1/;UID=1")'])
    ft.check('NO [TRYCREATE]' in t, 'TRYCREATE before BADURL', t)
    t = raw_cmd(f, 'c5', ['APPEND Cat CATENATE (TEXT)'])
    ft.check(' BAD ' in t, 'malformed CATENATE: BAD', t)
    s.close()
    m.noop()
    typ, dat = m.fetch('2:*', '(BODY.PEEK[])')
    got = [x[1] for x in dat if isinstance(x, tuple)]
    ft.check(got == [b'From: a@b\r\nSubject: src\r\n\r\nnew body\r\n'
                     b'source body\r\na@b', b'X: 1\r\n\r\n',
                     b'From: a@b\r\nSubject: src\r\n\r\nsource body\r\n'],
             'CATENATE results, nothing from the refused ones', got)
    m.logout()


def big_subject(i):
    return ['Re: status', 'report', 'Fwd: weekly', '[ops] alert'][i % 4] + \
        f' {i % 97:03d}'


def key_of(i):
    """(base subject, date) of big message i, as SORT (SUBJECT DATE)"""
    s = big_subject(i)
    for p in ('Re: ', 'Fwd: ', '[ops] '):
        s = s.removeprefix(p)
    return (s.upper(), (i % 24) * 60 + i % 60)


def big_folder(n):
    """n messages written straight into a folder's cur/ (as a delivery
    program would), so the first SORT reads every file."""
    m = login()
    m.create('Big')
    m.logout()
    cur = os.path.join(env.mail_dir(ALICE), '.Big', 'cur')
    for i in range(n):
        body = (f'Subject: {big_subject(i)}\nFrom: u{i % 13}@x.example\n'
                f'Date: Mon, 1 Jan 2024 {i % 24:02d}:{i % 60:02d}:00 +0000\n'
                f'Message-ID: <big{i}@x>\n'
                + (f'References: <big{i - 3}@x>\n' if i % 3 else '')
                + '\nhello\n')
        p = os.path.join(cur, f'1700000000.M{i:06d}P1.host:2,S')
        with open(p, 'w', encoding='ascii') as f:
            f.write(body)
        if env.as_root:
            os.chown(p, env.uid, env.gid)


def imapd_mem():
    """VmRSS/VmHWM (KiB) of this test's facteur-imapd processes"""
    out = []
    for pid in os.listdir('/proc'):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read()
            if b'facteur-imapd' not in cmd or env.conf.encode() not in cmd:
                continue
            with open(f'/proc/{pid}/status', encoding='ascii') as f:
                st = dict(ln.split(':', 1) for ln in f if ':' in ln)
            out.append(f'{st["VmRSS"].split()[0]}/{st["VmHWM"].split()[0]}')
        except (OSError, ValueError, KeyError):
            continue
    return ' '.join(sorted(out))


def test_big_sort_slices():
    """SORT and THREAD on a big folder (files read the first time) run in
    slices: a second session of the worker gets NOOP answered meanwhile."""
    big_folder(BIG)
    a, b = login(), login()
    typ, dat = a.select('Big')
    ft.check(typ == 'OK' and int(dat[0]) == BIG, 'big folder selected', dat)
    b.select('INBOX')
    lat = []
    done = threading.Event()
    res = {}

    def run():
        t0 = time.time()
        res['sort'] = sort(a, '(SUBJECT DATE)')
        res['t_sort'] = time.time() - t0
        t0 = time.time()
        res['sort2'] = sort(a, '(REVERSE DATE)')
        res['t_sort2'] = time.time() - t0
        t0 = time.time()
        res['thread'] = thread(a, 'REFERENCES')
        res['t_thread'] = time.time() - t0
        done.set()

    mem0 = imapd_mem()
    th = threading.Thread(target=run)
    th.start()
    while not done.is_set():
        t0 = time.time()
        b.noop()
        lat.append(time.time() - t0)
        time.sleep(0.005)
    th.join()
    got = res['sort']
    ft.check(isinstance(got, list) and len(got) == BIG, 'big SORT count',
             len(got) if isinstance(got, list) else got)
    nums = sorted(int(x) for x in re.findall(r'\d+', res['thread'] or ''))
    ft.check(nums == list(range(1, BIG + 1)), 'big THREAD: each message once',
             res['thread'][:200])
    ft.check(got == sorted(got, key=lambda k: (key_of(k - 1), k)),
             'big SORT order', got[:20])
    worst = max(lat) if lat else 0
    print(f'# {BIG} messages: SORT (SUBJECT DATE) first {res["t_sort"]:.2f} s, '
          f'SORT (REVERSE DATE) {res["t_sort2"]:.2f} s, THREAD REFERENCES '
          f'{res["t_thread"]:.2f} s; other session: {len(lat)} NOOPs, '
          f'worst {worst * 1000:.0f} ms; imapd RSS/peak KiB before '
          f'{mem0}, after {imapd_mem()}', flush=True)
    ft.check(worst < 1.0, 'other session answered during SORT', worst)
    a.logout()
    b.logout()


def setup():
    global env, PORT
    env = ft.Env()
    PORT = env.port()
    env.write_config(imap={'listen': f'127.0.0.1:{PORT}',
                           'max_literal': '1M', 'timeout': '1m'})
    env.add_user(ALICE, PASS)
    env.start('authd')
    env.start('imapd', ports=[PORT])


if __name__ == '__main__':
    ft.main(lambda: env, setup, [
        test_sort_keys, test_base_subject, test_thread, test_binary,
        test_catenate, test_big_sort_slices])
