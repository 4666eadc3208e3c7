# SPDX-License-Identifier: ISC
"""test_imap_rev2 - IMAP4rev2 (RFC 9051) beside IMAP4rev1 in
facteur-imapd: the capability and ENABLE IMAP4rev2, SELECT with its LIST
response and without RECENT or UNSEEN, no \\Recent in FLAGS, SEARCH
answered by ESEARCH, STATUS SIZE and DELETED (also in LIST-STATUS),
SEARCHRES (RETURN (SAVE) and "$" in FETCH, STORE, COPY, MOVE, SEARCH and
their UID forms), mailbox names in UTF-8 for a rev2 session and in
modified UTF-7 for a rev1 one (the same folders), CONTEXT=SEARCH
updates and PARTIAL, the RFC 5530 response codes of DELETE and RENAME,
APPENDLIMIT (RFC 7889).  One server, raw sessions (imaplib neither
enables IMAP4rev2 nor parses ESEARCH) and imaplib where it can."""

import base64
import imaplib
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
import test_imap_rfc as rfc  # noqa: E402  (Raw, deliver, fresh_folder)

Raw = rfc.Raw
env = None


def setup():
    global env
    env = ft.Env()
    rfc.env = env
    rfc.PORT = env.port()
    env.write_config(imap={'listen': f'127.0.0.1:{rfc.PORT}',
                           'max_literal': '1M', 'timeout': '1m'})
    env.add_user(rfc.ALICE, rfc.PASS)
    env.start('authd')
    env.start('imapd', ports=[rfc.PORT])


def rev2():
    """A logged-in session with IMAP4rev2 enabled."""
    r = Raw()
    u, t = r.cmd('ENABLE IMAP4rev2')
    ft.check(u == ['* ENABLED IMAP4rev2'] and ' OK' in t,
             'ENABLE IMAP4rev2', (u, t))
    return r


def mutf7(s):
    """modified UTF-7 (RFC 3501 5.1.3) of s"""
    out, run = '', ''
    for ch in s + '\0':
        if ch != '\0' and not 0x20 <= ord(ch) <= 0x7e:
            run += ch
            continue
        if run:
            b = run.encode('utf-16-be')
            out += '&' + base64.b64encode(b).decode().rstrip('=').replace(
                '/', ',') + '-'
            run = ''
        if ch == '&':
            out += '&-'
        elif ch != '\0':
            out += ch
    return out


def test_capability_enable():
    r = Raw()
    u, _ = r.cmd('CAPABILITY')
    caps = u[0].split()
    ft.check('IMAP4rev1' in caps and 'IMAP4rev2' in caps and
             'SEARCHRES' in caps and 'ESEARCH' in caps, 'capabilities', u)
    u, t = r.cmd('ENABLE IMAP4rev2 CONDSTORE')
    ft.check(u == ['* ENABLED IMAP4rev2 CONDSTORE'], 'ENABLED both', u)
    u, t = r.cmd('ENABLE IMAP4rev2')
    ft.check(u == ['* ENABLED'] and ' OK' in t, 'enabled once only', u)
    r.close()


def test_select_no_recent():
    rfc.fresh_folder('R2', ['one', 'two'])
    a = rev2()
    u, t = a.cmd('SELECT R2')
    ft.check(' OK [READ-WRITE]' in t, 'rev2 SELECT', t)
    ft.check(not any('RECENT' in x or 'UNSEEN' in x for x in u),
             'no RECENT, no UNSEEN', u)
    ft.check('* LIST (\\HasNoChildren) "." "R2"' in u, 'LIST in SELECT', u)
    ft.check('* 2 EXISTS' in u and any('UIDVALIDITY' in x for x in u) and
             any('UIDNEXT' in x for x in u) and
             any('PERMANENTFLAGS' in x for x in u), 'required ones', u)
    u, _ = a.cmd('FETCH 1:* (FLAGS)')
    ft.check(u == ['* 1 FETCH (FLAGS ())', '* 2 FETCH (FLAGS ())'],
             'no \\Recent in FETCH FLAGS', u)
    rfc.deliver('three', sub='R2')
    u, _ = a.cmd('NOOP')
    ft.check(u == ['* 3 EXISTS'], 'new message: EXISTS alone', u)
    a.close()
    # a rev1 session sees what rev1 has (the next new one is \Recent)
    rfc.deliver('four', sub='R2')
    b = Raw()
    u, _ = b.cmd('SELECT R2')
    ft.check('* 1 RECENT' in u and any('[UNSEEN 1]' in x for x in u) and
             not any(x.startswith('* LIST') for x in u), 'rev1 SELECT', u)
    u, _ = b.cmd('FETCH 4 (FLAGS)')
    ft.check(u == ['* 4 FETCH (FLAGS (\\Recent))'], 'rev1 \\Recent', u)
    b.cmd('CREATE R2.kid')
    u, _ = b.cmd('ENABLE IMAP4rev2')
    u, _ = b.cmd('EXAMINE R2')
    ft.check('* LIST (\\HasChildren) "." "R2"' in u, 'LIST \\HasChildren',
             u)
    u, _ = b.cmd('SELECT Sent')
    ft.check('* LIST (\\HasNoChildren \\Sent) "." "Sent"' in u,
             'LIST special-use', u)
    b.cmd('DELETE R2.kid')
    b.close()


def test_esearch_response():
    rfc.fresh_folder('R3', ['apple', 'pear', 'apple pie'])
    a = rev2()
    u, _ = a.cmd('SELECT R3')
    u, t = a.cmd('SEARCH SUBJECT apple')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}") ALL 1,3'], 'SEARCH: ESEARCH',
             u)
    u, _ = a.cmd('UID FETCH 1:* (UID)')
    uids = [int(re.search(r'UID (\d+)', x).group(1)) for x in u]
    u, _ = a.cmd('UID SEARCH SUBJECT pear')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}") UID ALL {uids[1]}'],
             'UID SEARCH: ESEARCH UID', u)
    u, _ = a.cmd('SEARCH SUBJECT nothing')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}")'], 'no match', u)
    u, _ = a.cmd('SEARCH RETURN (COUNT) ALL')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}") COUNT 3'], 'RETURN kept', u)
    a.close()
    b = Raw()
    b.cmd('SELECT R3')
    u, _ = b.cmd('SEARCH SUBJECT apple')
    ft.check(u == ['* SEARCH 1 3'], 'rev1 SEARCH unchanged', u)
    b.close()


def test_status_size_deleted():
    rfc.fresh_folder('R4', ['a', 'bb', 'ccc'])
    m = imaplib.IMAP4_SSL('127.0.0.1', rfc.PORT, ssl_context=rfc.ctx())
    m.login(rfc.ALICE, rfc.PASS)
    m.select('R4')
    typ, dat = m.fetch('1:*', '(RFC822.SIZE)')
    total = sum(int(re.search(rb'RFC822.SIZE (\d+)', x).group(1))
                for x in dat)
    m.store('2:3', '+FLAGS', '(\\Deleted)')
    typ, dat = m.status('R4', '(MESSAGES SIZE DELETED)')
    ft.check(typ == 'OK' and dat[0] == f'"R4" (MESSAGES 3 SIZE {total} '
             f'DELETED 2)'.encode(), 'STATUS SIZE DELETED', (total, dat))
    typ, dat = m._simple_command('LIST', '""', 'R4', 'RETURN',
                                 '(STATUS (DELETED SIZE))')
    st = m.untagged_responses.pop('STATUS', [])
    ft.check(st == [f'"R4" (DELETED 2 SIZE {total})'.encode()],
             'LIST-STATUS SIZE DELETED', st)
    m.logout()


def uid_list(r, spec='1:*'):
    u, _ = r.cmd(f'FETCH {spec} (UID)')
    return [int(re.search(r'UID (\d+)', x).group(1)) for x in u
            if 'FETCH' in x]


def test_searchres():
    rfc.fresh_folder('R5', ['red', 'green', 'red two', 'blue', 'red three'])
    a = Raw()		# SEARCHRES needs no ENABLE
    a.cmd('SELECT R5')
    uids = uid_list(a)
    u, t = a.cmd('SEARCH RETURN (SAVE) SUBJECT red')
    ft.check(u == [] and ' OK' in t, 'SAVE alone: no ESEARCH', (u, t))
    u, _ = a.cmd('FETCH $ (UID)')
    ft.check([x.split()[1] for x in u] == ['1', '3', '5'], 'FETCH $', u)
    u, _ = a.cmd('UID FETCH $ (FLAGS)')
    ft.check(len(u) == 3, 'UID FETCH $', u)
    u, _ = a.cmd('SEARCH $ NOT SUBJECT two')
    ft.check(u == ['* SEARCH 1 5'], 'SEARCH $ with other keys', u)
    u, _ = a.cmd(f'UID SEARCH UID $')
    ft.check(u == [f'* SEARCH {uids[0]} {uids[2]} {uids[4]}'],
             'UID SEARCH UID $', u)
    u, t = a.cmd('STORE $ +FLAGS (\\Flagged)')
    ft.check(len(u) == 3 and ' OK' in t, 'STORE $', u)
    u, _ = a.cmd('SEARCH FLAGGED')
    ft.check(u == ['* SEARCH 1 3 5'], 'stored on the saved ones', u)
    # MIN/MAX alone save only those; with ALL everything
    u, _ = a.cmd('SEARCH RETURN (SAVE MIN) SUBJECT red')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}") MIN 1'], 'SAVE MIN answers',
             u)
    u, _ = a.cmd('FETCH $ (UID)')
    ft.check(len(u) == 1 and u[0].startswith('* 1 FETCH'), '$ is MIN', u)
    u, _ = a.cmd('SEARCH RETURN (SAVE MIN MAX) SUBJECT red')
    u, _ = a.cmd('FETCH $ (UID)')
    ft.check([x.split()[1] for x in u] == ['1', '5'], '$ is MIN, MAX', u)
    a.cmd('SEARCH RETURN (SAVE) SUBJECT red')
    # the saved result follows the messages through an expunge
    a.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
    a.cmd('EXPUNGE')
    u, _ = a.cmd('FETCH $ (UID)')
    ft.check([x.split()[1] for x in u] == ['2', '4'] and
             f'UID {uids[2]}' in u[0], '$ after EXPUNGE', u)
    u, t = a.cmd('COPY $ R4')
    ft.check(f'[COPYUID' in t, 'COPY $', t)
    u, t = a.cmd('MOVE $ R3')
    ft.check(sum('EXPUNGE' in x for x in u) == 2, 'MOVE $', u)
    # a failed SAVE empties it; so does SELECT
    a.cmd('SEARCH RETURN (SAVE) ALL')
    u, t = a.cmd('SEARCH RETURN (SAVE) CHARSET X-NONE ALL')
    ft.check('BADCHARSET' in t, 'bad charset', t)
    u, t = a.cmd('FETCH $ (UID)')
    ft.check(u == [] and ' OK' in t, '$ empty after a failed SAVE', (u, t))
    a.cmd('SEARCH RETURN (SAVE) ALL')
    a.cmd('SELECT R5')
    u, t = a.cmd('FETCH $ (UID)')
    ft.check(u == [] and ' OK' in t, '$ empty after SELECT', (u, t))
    u, t = a.cmd('FETCH $,1 (UID)')
    ft.check(' BAD' in t, '"$" only alone', t)
    a.close()


def test_utf8_names():
    b = Raw()
    name = 'Grüße.Ωμέγα 𝄞'
    top = mutf7('Grüße')
    enc = mutf7(name)
    _, t = b.cmd(f'CREATE "{top}"')
    ft.check(' OK' in t, 'rev1 CREATE in modified UTF-7', t)
    _, t = b.cmd('CREATE "Grüße2"')
    ft.check(' NO' in t, 'rev1 CREATE of 8-bit refused', t)
    _, t = b.cmd('CREATE "A&Bad"')
    ft.check(' NO' in t, 'rev1 CREATE of bad mUTF-7 refused', t)
    a = rev2()
    _, t = a.cmd(f'CREATE "{name}"')
    ft.check(' OK' in t, 'rev2 CREATE in UTF-8', t)
    u, _ = b.cmd('LIST "" "Gr*"')
    ft.check(u == [f'* LIST (\\HasChildren) "." "{top}"',
                   f'* LIST (\\HasNoChildren) "." "{enc}"'],
             'rev1 LIST: modified UTF-7', u)
    u, _ = a.cmd('LIST "" "Grü%"')
    ft.check(u == ['* LIST (\\HasChildren) "." "Grüße"'], 'rev2 LIST', u)
    u, _ = a.cmd('LIST "" "*Ωμ*"')
    ft.check(u == [f'* LIST (\\HasNoChildren) "." "{name}"'],
             'rev2 LIST pattern in UTF-8', u)
    u, t = a.cmd(f'APPEND "{name}" {{5+}}\r\nhello')
    ft.check('APPENDUID' in t, 'rev2 APPEND', t)
    u, t = a.cmd(f'STATUS "{name}" (MESSAGES)')
    ft.check(u == [f'* STATUS "{name}" (MESSAGES 1)'], 'rev2 STATUS', u)
    # an IMAP URL names the mailbox in UTF-8 (RFC 5092), rev1 or rev2
    url = '/' + urllib.parse.quote(name, safe='') + '/;UID=1'
    _, t = b.cmd(f'APPEND R4 CATENATE (URL "{url}")')
    ft.check('APPENDUID' in t, 'CATENATE URL of a UTF-8 name', t)
    u, t = a.cmd(f'SELECT "{name}"')
    ft.check(f'* LIST (\\HasNoChildren) "." "{name}"' in u and
             '* 1 EXISTS' in u, 'rev2 SELECT', u)
    u, t = b.cmd(f'STATUS "{enc}" (MESSAGES)')
    ft.check(u == [f'* STATUS "{enc}" (MESSAGES 1)'], 'rev1 STATUS', u)
    u, t = a.cmd('SUBSCRIBE "Grüße"')
    u, _ = b.cmd('LSUB "" "Gr*"')
    ft.check(u == [f'* LSUB () "." "{top}"'], 'subscription in mUTF-7', u)
    u, _ = a.cmd('LIST (SUBSCRIBED) "" "*"')
    ft.check('* LIST (\\HasChildren \\Subscribed) "." "Grüße"' in u,
             'rev2 LIST (SUBSCRIBED)', u)
    # a literal name; "&" is itself in UTF-8
    n2 = 'x&y'.encode()
    a.send(f'CREATE {{{len(n2)}+}}')
    a.f.write(n2 + b'\r\n')
    a.f.flush()
    t = a.read_until(f'T{a.n}')[-1]
    ft.check(' OK' in t, 'rev2 CREATE x&y', t)
    u, _ = b.cmd('LIST "" "x*"')
    ft.check(u == ['* LIST (\\HasNoChildren) "." "x&-y"'], '& as &-', u)
    _, t = a.cmd(f'RENAME "{name}" "Grüße.neu"')
    ft.check(' OK' in t, 'rev2 RENAME', t)
    u, _ = b.cmd('LIST "" "Gr*"')
    ft.check(f'* LIST (\\HasNoChildren) "." "{top}.neu"' in u,
             'renamed', u)
    for n in ('Grüße.neu', 'Grüße', 'x&y'):
        _, t = a.cmd(f'DELETE "{n}"')
        ft.check(' OK' in t, f'DELETE {n}', t)
    a.cmd('UNSUBSCRIBE "Grüße"')
    tag = a.send('NOOP')[0]
    a.read_until(tag)
    a.n += 1
    a.f.write(f'T{a.n} SELECT "'.encode() + b'\xff\xfe"\r\n')
    a.f.flush()
    t = a.read_until(f'T{a.n}')[-1]
    ft.check(' NO' in t or ' BAD' in t, 'not UTF-8: refused', t)
    a.close()
    b.close()


def test_context_search():
    """CONTEXT=SEARCH (RFC 5267): updates as messages come to match or
    stop matching, by this session or another, REMOVEFROM before the
    EXPUNGE, ADDTO after EXISTS, CANCELUPDATE; PARTIAL; SORT PARTIAL."""
    rfc.fresh_folder('R6', ['m1', 'm2', 'm3', 'm4', 'm5'])
    a, b = Raw(), Raw()
    u, _ = a.cmd('CAPABILITY')
    ft.check('CONTEXT=SEARCH' in u[0] and 'CONTEXT=SORT' in u[0],
             'CONTEXT capabilities', u)
    a.cmd('SELECT R6')
    b.cmd('SELECT R6')
    uids = uid_list(a)
    u, _ = a.cmd('SEARCH RETURN (UPDATE) FLAGGED')
    st = f'T{a.n}'
    ft.check(u == [f'* ESEARCH (TAG "{st}")'], 'UPDATE: empty result', u)
    u, _ = a.cmd('STORE 1,2 +FLAGS (\\Flagged)')
    ft.check(u[-1] == f'* ESEARCH (TAG "{st}") ADDTO (0 1:2)',
             'own STORE: ADDTO before OK', u)
    b.cmd('STORE 4 +FLAGS (\\Flagged)')
    b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
    b.cmd('EXPUNGE')
    u, _ = a.cmd('NOOP')
    rem = u.index(f'* ESEARCH (TAG "{st}") REMOVEFROM (0 1)') \
        if f'* ESEARCH (TAG "{st}") REMOVEFROM (0 1)' in u else 99
    ft.check(rem < u.index('* 1 EXPUNGE') if '* 1 EXPUNGE' in u else False,
             'REMOVEFROM of the expunged one before its EXPUNGE', u)
    ft.check(u[-1] == f'* ESEARCH (TAG "{st}") ADDTO (0 3)',
             'another session\'s flag: ADDTO', u)
    u, _ = a.cmd('STORE 1 -FLAGS (\\Flagged)')
    ft.check(u[-1] == f'* ESEARCH (TAG "{st}") REMOVEFROM (0 1)',
             'own STORE: REMOVEFROM', u)
    u, _ = a.cmd('UID SEARCH RETURN (UPDATE ALL) FLAGGED')
    ut = f'T{a.n}'
    ft.check(u == [f'* ESEARCH (TAG "{ut}") UID ALL {uids[3]}'],
             'UID UPDATE ALL', u)
    u, t = a.cmd('APPEND R6 (\\Flagged) {5+}\r\nhello')
    new = int(re.search(r'APPENDUID \d+ (\d+)', t).group(1))
    ft.check(u == ['* 5 EXISTS', '* 5 RECENT',
                   f'* ESEARCH (TAG "{st}") ADDTO (0 5)',
                   f'* ESEARCH (TAG "{ut}") UID ADDTO (0 {new})'],
             'APPEND: EXISTS, then ADDTO', u)
    _, t = a.cmd(f'CANCELUPDATE "{st}"')
    ft.check(' OK' in t, 'CANCELUPDATE', t)
    _, t = a.cmd(f'CANCELUPDATE "{st}"')
    ft.check(' BAD' in t, 'CANCELUPDATE of no search', t)
    # in IDLE too
    tag = a.send('IDLE')[0]
    a.f.readline()
    b.cmd('STORE 2 +FLAGS (\\Flagged)')
    got = b''
    for _ in range(20):
        got += a.pending(0.3)
        if b'ADDTO' in got:
            break
    a.f.write(b'DONE\r\n')
    a.f.flush()
    a.read_until(tag)
    ft.check(f'* ESEARCH (TAG "{ut}") UID ADDTO (0 {uids[2]})'.encode()
             in got and b'T' + st[1:].encode() not in got, 'in IDLE', got)
    # PARTIAL, and its bad forms
    u, _ = a.cmd('SEARCH RETURN (PARTIAL 4:2) ALL')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}") PARTIAL (2:4 2:4)'],
             'PARTIAL', u)
    u, _ = a.cmd('UID SEARCH RETURN (PARTIAL 5:9) ALL')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}") UID PARTIAL (5:9 {new})'],
             'UID PARTIAL', u)
    u, _ = a.cmd('SEARCH RETURN (PARTIAL 7:8) ALL')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}") PARTIAL (7:8 NIL)'],
             'PARTIAL beyond the end', u)
    for bad in ('1', '1:*', '*:1', '0:2'):
        _, t = a.cmd(f'SEARCH RETURN (PARTIAL {bad}) ALL')
        ft.check(' BAD' in t, f'PARTIAL {bad}', t)
    u, _ = a.cmd('SORT RETURN (PARTIAL 1:2) (REVERSE ARRIVAL) UTF-8 ALL')
    ft.check(len(u) == 1 and 'PARTIAL (1:2 ' in u[0], 'SORT PARTIAL', u)
    u, t = a.cmd('SORT RETURN (SAVE) (REVERSE ARRIVAL) UTF-8 FLAGGED')
    ft.check(u == [] and ' OK' in t, 'SORT RETURN (SAVE): no ESEARCH', u)
    u, _ = a.cmd('SEARCH FLAGGED')
    want = u[0].split()[2:]
    u, _ = a.cmd('FETCH $ (UID)')
    ft.check([x.split()[1] for x in u] == want, 'SORT saved $', (u, want))
    # subjects m2 m3 m4 m5 and none: m5 (4) first
    u, _ = a.cmd('SORT RETURN (SAVE MIN) (REVERSE SUBJECT) UTF-8 ALL')
    ft.check(u == [f'* ESEARCH (TAG "T{a.n}") MIN 4'], 'SORT SAVE MIN', u)
    u, _ = a.cmd('FETCH $ (UID)')
    ft.check(len(u) == 1 and u[0].startswith('* 4 FETCH'), '$: first in '
             'sort order', u)
    u, t = a.cmd('SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL')
    ft.check(u[-1].startswith(f'* NO [NOUPDATE "T{a.n}"]') and ' OK' in t,
             'SORT UPDATE: NOUPDATE', u)
    for _ in range(8):
        u, _ = a.cmd('SEARCH RETURN (UPDATE) SEEN')
    ft.check(u[-1].startswith(f'* NO [NOUPDATE "T{a.n}"]'),
             'too many updating searches', u)
    a.cmd('UNSELECT')
    a.cmd('SELECT R6')
    u, _ = b.cmd('STORE 1:* +FLAGS (\\Seen)')
    u, _ = a.cmd('NOOP')
    ft.check(not any('ESEARCH' in x for x in u), 'gone with the mailbox', u)
    a.close()
    b.close()


def test_response_codes():
    r = Raw()
    _, t = r.cmd('DELETE NoSuchBox')
    ft.check('NO [NONEXISTENT]' in t, 'DELETE nonexistent', t)
    _, t = r.cmd('RENAME NoSuchBox Other')
    ft.check('NO [NONEXISTENT]' in t, 'RENAME nonexistent', t)
    _, t = r.cmd('CREATE Sent')
    ft.check('NO [ALREADYEXISTS]' in t, 'CREATE existing', t)
    _, t = r.cmd('SELECT NoSuchBox')
    ft.check('NO [NONEXISTENT]' in t, 'SELECT nonexistent', t)
    _, t = r.cmd('APPEND NoSuchBox {1+}\r\nx')
    ft.check('NO [TRYCREATE]' in t, 'APPEND: TRYCREATE', t)
    # APPENDLIMIT (RFC 7889): max_literal, refused with TOOBIG
    u, _ = r.cmd('CAPABILITY')
    ft.check('APPENDLIMIT=1048576' in u[0].split(), 'APPENDLIMIT', u)
    u, _ = r.cmd('STATUS INBOX (APPENDLIMIT)')
    ft.check(u == ['* STATUS "INBOX" (APPENDLIMIT 1048576)'],
             'STATUS APPENDLIMIT', u)
    _, t = r.cmd('APPEND INBOX {1048577}')
    ft.check('NO [TOOBIG]' in t, 'APPEND over the limit: TOOBIG', t)
    _, t = r.cmd('NOOP')
    ft.check(' OK' in t, 'session goes on', t)
    r.close()


if __name__ == '__main__':
    ft.main(lambda: env, setup, [
        test_capability_enable, test_select_no_recent, test_esearch_response,
        test_status_size_deleted, test_searchres, test_utf8_names,
        test_context_search, test_response_codes])
