# SPDX-License-Identifier: ISC
"""test_imap_sort_dovecot - SORT and THREAD answers of facteur-imapd
checked against Debian's Dovecot on the same mailbox: a few hundred
generated messages (subjects with Re:/Fwd:/[tag]/(fwd) and encoded
words, addresses with display names, groups and comments, dates in
several zones, obsolete, two-digit or missing, message-ids missing,
duplicated or referring to absent messages) appended with the same
INTERNALDATE to both, then every SORT key (and REVERSE, and pairs) and
both THREAD algorithms, sequence numbers and UIDs, must give the same
result.  Dovecot runs as a test instance on a loopback port (plain
IMAP, no TLS).  Skipped (passes) when /usr/sbin/dovecot is missing.
SORTCMP_N=N sets the message count (default 300), SORTCMP_SEED the
generator's seed."""

import calendar
import imaplib
import os
import random
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dovecot_peer  # noqa: E402
import facteur_test as ft  # noqa: E402

ALICE = 'alice@example.org'
PASS = 'sort compare pw'
N = int(os.environ.get('SORTCMP_N', '300'))
SEED = int(os.environ.get('SORTCMP_SEED', '5256'))
env = None
PORT = DV_PORT = 0
DVC = None                      # the Dovecot peer, made by setup()

SUBJECTS = [
    'hello', 'Re: hello', 'Fwd: hello', '[list] Re: hello', 'RE: [list] hello',
    'hello (fwd)', '[fwd: hello]', 'Re: [fwd: hello]', 'Fw: Re: Fwd: hello',
    '=?utf-8?q?h=C3=A9llo?=', 'Re: =?utf-8?q?h=C3=A9llo?=',
    '=?iso-8859-1?q?Re:_hello?=', 'hello world', 'Hello  World',
    're:re: world', 'Re[2]: world', 'Ad: world', '[tag]', '[a][b] news',
    'news', 'Re: news', '', 'Re:', '_under', '[x]  [y]  ', 'zeta',
]
ADDRS = [
    'Ann <ann@a.example>', 'bob@b.example', '"Quoted, Name" <q@q.example>',
    '=?iso-8859-1?q?=C9mile?= <e@e.example>', 'c@c.example (Cee Comment)',
    'team: x@x.example, y@y.example;', 'Zed <zed@z.example>', 'dave',
    '<angle@a.example>', 'ann@a.example', 'Ann <aaa@a.example>',
]
ZONES = ['+0000', '+0200', '-0500', '+0530', '-1200', 'GMT', 'EST', 'PDT',
         'UT', 'Z']
DOWS = ['Mon, ', 'Tue, ', 'Sun, ', '']


def make_msgs(n):
    """n (headers, internaldate) pairs, reproducible from SEED"""
    rnd = random.Random(SEED)
    ids = []
    out = []
    for i in range(n):
        h = []
        if rnd.random() < 0.9:
            if ids and rnd.random() < 0.04:
                mid = rnd.choice(ids)           # a duplicate
            else:
                mid = f'<m{i}.{rnd.randrange(10**6)}@gen.example>'
            ids.append(mid)
            h.append(('Message-ID', mid))
        r = rnd.random()
        if r < 0.45 and ids:
            refs = rnd.sample(ids, min(len(ids), rnd.randint(1, 4)))
            if rnd.random() < 0.2:
                refs.insert(rnd.randrange(len(refs) + 1),
                            f'<absent{rnd.randrange(30)}@gen.example>')
            h.append(('References', ' '.join(refs)))
        elif r < 0.6 and ids:
            h.append(('In-Reply-To', rnd.choice(ids)))
        if rnd.random() < 0.95:
            h.append(('Subject', rnd.choice(SUBJECTS)))
        for f in ('From', 'To', 'Cc'):
            if rnd.random() < 0.8:
                h.append((f, rnd.choice(ADDRS)))
        r = rnd.random()
        if r < 0.85:
            h.append(('Date', f'{rnd.choice(DOWS)}{rnd.randint(1, 28)} '
                      f'{rnd.choice(["Jan", "Feb", "Mar"])} '
                      f'{rnd.choice(["2024", "2023", "24"])} '
                      f'{rnd.randrange(24):02d}:{rnd.randrange(60):02d}'
                      f'{rnd.choice([":" + str(rnd.randrange(60)).zfill(2), ""])}'
                      f' {rnd.choice(ZONES)}'))
        elif r < 0.9:
            h.append(('Date', 'not a date'))
        body = 'x' * rnd.randrange(200) + '\r\n'
        idate = (f'{rnd.randint(1, 28):02d}-Jan-2024 '
                 f'{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:'
                 f'{rnd.randrange(60):02d} +0000')
        text = ''.join(f'{k}: {v}\r\n' for k, v in h) + '\r\n' + body
        out.append((text.encode(), idate))
    return out


def both():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    f = imaplib.IMAP4_SSL('127.0.0.1', PORT, ssl_context=c, timeout=60)
    f.login(ALICE, PASS)
    d = imaplib.IMAP4('127.0.0.1', DV_PORT, timeout=60)
    d.login(ALICE, PASS)
    return f, d


def ask(m, uid, cmd, *args):
    if uid:
        typ, dat = m.uid(cmd, *args)
    elif cmd == 'SORT':
        typ, dat = m.sort(*args)
    else:
        typ, dat = m.thread(*args)
    return typ, (dat[0] or b'').decode(errors='replace') if dat else ''


def put_files(cur, msgs, uid=-1, gid=-1):
    """the messages as Maildir files (a delivery program's way: faster
    than APPEND), INTERNALDATE as the mtime, names in order"""
    for i, (text, idate) in enumerate(msgs):
        p = os.path.join(cur, f'1700000000.M{i:06d}P1.gen:2,')
        with open(p, 'wb') as fh:
            fh.write(text.replace(b'\r\n', b'\n'))
        t = calendar.timegm(time.strptime(idate[:-6], '%d-%b-%Y %H:%M:%S'))
        os.utime(p, (t, t))
        if uid >= 0:
            os.chown(p, uid, gid)


def test_same_as_dovecot():
    f, d = both()
    msgs = make_msgs(N)
    for m in (f, d):
        m.create('Cmp')
    put_files(os.path.join(env.mail_dir(ALICE), '.Cmp', 'cur'), msgs,
              env.uid if env.as_root else -1, env.gid)
    put_files(os.path.join(DVC.maildir(ALICE), '.Cmp', 'cur'), msgs,
              DVC.uid, DVC.gid)
    for m in (f, d):
        typ, dat = m.select('Cmp')
        ft.check(typ == 'OK' and int(dat[0]) == N, 'select', dat)
    # times: the first SORT reads every file (cold caches on both)
    times = []
    for what in (('SORT', '(SUBJECT)'), ('SORT', '(SUBJECT)'),
                 ('SORT', '(REVERSE DATE)'), ('THREAD', 'REFERENCES'),
                 ('THREAD', 'ORDEREDSUBJECT')):
        row = []
        for m in (f, d):
            t0 = time.time()
            ask(m, False, what[0], what[1], 'UTF-8', 'ALL')
            row.append((time.time() - t0) * 1000)
        times.append(f'{what[0]} {what[1]} {row[0]:.0f}/{row[1]:.0f}')
    print(f'# ms facteur/dovecot: {"; ".join(times)}', flush=True)
    a = ask(f, True, 'SORT', '(ARRIVAL)', 'UTF-8', 'ALL')
    ft.check(a[0] == 'OK' and len(a[1].split()) == N, 'SORT answers', a)
    keys = ['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO',
            'DISPLAYFROM', 'DISPLAYTO']
    crits = [f'({k})' for k in keys] + [f'(REVERSE {k})' for k in keys] + \
        ['(SUBJECT REVERSE DATE)', '(FROM SUBJECT)', '(REVERSE TO SIZE)',
         '(DISPLAYTO REVERSE ARRIVAL)']
    same = 0
    for uid in (False, True):
        for crit in crits:
            a = ask(f, uid, 'SORT', crit, 'UTF-8', 'ALL')
            b = ask(d, uid, 'SORT', crit, 'UTF-8', 'ALL')
            same += a == b
            ft.check(a == b, f'{"UID " if uid else ""}SORT {crit} as Dovecot',
                     f'\nfacteur {a[1][:600]}\ndovecot {b[1][:600]}')
        for alg in ('REFERENCES', 'ORDEREDSUBJECT'):
            a = ask(f, uid, 'THREAD', alg, 'UTF-8', 'ALL')
            b = ask(d, uid, 'THREAD', alg, 'UTF-8', 'ALL')
            same += a == b
            ft.check(a == b, f'{"UID " if uid else ""}THREAD {alg} as Dovecot',
                     f'\nfacteur {a[1][:600]}\ndovecot {b[1][:600]}')
    a = ask(f, False, 'SORT', '(DATE)', 'UTF-8', 'SUBJECT', 'hello')
    b = ask(d, False, 'SORT', '(DATE)', 'UTF-8', 'SUBJECT', 'hello')
    ft.check(a == b, 'SORT with a search key as Dovecot', (a, b))
    print(f'# {N} messages, seed {SEED}: {same} of '
          f'{2 * (len(crits) + 2)} answers identical', flush=True)
    f.logout()
    d.logout()


def setup():
    global env, PORT, DV_PORT, DVC
    env = ft.Env()
    PORT, DV_PORT = env.port(), env.port()
    DVC = dovecot_peer.Dovecot(env, 'dovecot-sort', [ALICE], PASS,
                               imap=DV_PORT)
    env.write_config(imap={'listen': f'127.0.0.1:{PORT}', 'timeout': '5m'})
    env.add_user(ALICE, PASS)
    env.start('authd')
    env.start('imapd', ports=[PORT])
    if not DVC.start():
        raise RuntimeError('dovecot did not start: ' + DVC.log())


if __name__ == '__main__':
    if not dovecot_peer.installed():
        print(f'# {dovecot_peer.DOVECOT} missing: skipped')
        sys.exit(0)
    try:
        setup()
    except Exception as e:  # pylint: disable=broad-except
        ft.check(False, 'setup', str(e))
        if DVC:
            DVC.stop()
        if env:
            env.stop_all()
            env.dump_logs()
        sys.exit(ft.summary())
    try:
        ft.run_tests(env, [test_same_as_dovecot, DVC.stop])
    finally:
        if DVC:
            DVC.stop()
