#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_queue_recycle - finished queue files are recycled (issue 17):
renamed to a new QID and written over by the next message (or made empty
first, in the background), then taken into the pool again, instead of
unlinked and created anew (smtpd/README.md "From DATA to the Maildir").
The same inodes serve message after message and each message is
delivered once; once the queue is idle no pool file holds a delivered
message any more.  After a crash, every state a recycle passes through is
safe at start: an empty file under the old or the new name is an unused
pool file and removed; the finished message still whole under its own
name (recycle not begun) is found delivered by the deliver role and not
delivered again; a finished message's content under another QID (a
recycled file not written over yet, or a power cut that kept the rename
but lost the truncate) is removed at start, never delivered and not set
aside: only a recycle renames a committed file, and only a finished one.
A message written over a recycled file leaves the earlier bytes between
message and envelope (slack): read back without them; a file whose bytes
are not those its footer's CRC was computed for (a power cut kept only
some of the new message's blocks) is set aside, never delivered.
"""

import os
import re
import time
import zlib

import facteur_test as ft
from facteur_test import check

ALICE = 'alice@example.org'
N = 80                  # more than the pool (32) and the smtp role's spares
env = ft.Env()
P1 = env.port()
MSGDIR = os.path.join(env.state_dir, 'queue', 'msg')
QID_RE = re.compile(r'^[0-9a-f]{16}$')


def pool_inodes():
    """{inode: name} of the QID-named files in queue/msg/"""
    out = {}
    for n in os.listdir(MSGDIR):
        if QID_RE.match(n):
            try:
                out[os.stat(os.path.join(MSGDIR, n)).st_ino] = n
            except FileNotFoundError:
                pass
    return out


def queue_file(qid, qtime, body, rcpt=ALICE):
    """A committed queue file (smtpd/queue_file.c's format)"""
    env_text = (f'id {qid}\ntime {qtime}\nfrom x@example.net\n'
                f'client 127.0.0.1\nhelo test\nrcpt {rcpt} {rcpt}\n'
                f'end\n').encode()
    footer = b'FACTEUR-QUEUE-1 %020d %010d\n' % (len(body), len(env_text))
    assert len(footer) == 48
    return body + env_text + footer


def queue_file2(qid, qtime, body, slack=b'', crc_of=None, rcpt=ALICE):
    """A committed queue file in the CRC format, slack between message and
    envelope; crc_of: the message the CRC is computed for (default body)"""
    env_text = (f'id {qid}\ntime {qtime}\nfrom x@example.net\n'
                f'client 127.0.0.1\nhelo test\nrcpt {rcpt} {rcpt}\n'
                f'end\n').encode()
    crc = zlib.crc32((body if crc_of is None else crc_of) + env_text)
    footer = b'FACTEUR-QUEUE-2 %020d %010d %08x\n' % (len(body),
                                                       len(env_text), crc)
    assert len(footer) == 57
    return body + slack + env_text + footer


def put(name, data):
    p = os.path.join(MSGDIR, name)
    with open(p, 'wb') as f:
        f.write(data)
    env.chown(p)
    return p


def test_recycled():
    c = ft.RawSMTP(P1)
    c.ehlo()
    code, _ = c.mail_transaction('x@example.net', [ALICE],
                                 b'Subject: first\r\n\r\nrecycle-first\r\n')
    # the pool is made at the first DATA
    check(code == 250 and env.wait_message(ALICE, 'recycle-first') and
          ft.wait_for(lambda: len(pool_inodes()) >= 16, 20),
          'the pool is made at the first message', os.listdir(MSGDIR))
    first = pool_inodes()
    codes = []
    for i in range(N):
        code, _ = c.mail_transaction(
            'x@example.net', [ALICE],
            b'Subject: r%d\r\n\r\nrecycle-%d-end\r\n' % (i, i))
        codes.append(code)
    c.close()
    check(codes == [250] * N, f'{N} messages acknowledged', codes)
    ft.wait_for(lambda: len(env.find_messages(ALICE, b'recycle-')) >= N, 30)
    got = [len(env.find_messages(ALICE, b'recycle-%d-end' % i))
           for i in range(N)]
    check(got == [1] * N, 'each delivered exactly once',
          [i for i, n in enumerate(got) if n != 1])
    check(ft.wait_for(lambda: not env.queue_files(), 20),
          'every message is out of the queue', env.queue_files())
    # idle: recycled files holding delivered messages are made empty
    # (or removed: one listed may be gone when its size is asked)
    def held():
        out = []
        for n in os.listdir(MSGDIR):
            try:
                size = os.path.getsize(os.path.join(MSGDIR, n))
            except FileNotFoundError:
                continue
            if size > 0:
                out.append((n, size))
        return out
    check(ft.wait_for(lambda: not held(), 20),
          'no pool file holds a delivered message once idle', held())
    now = pool_inodes()
    reused = [ino for ino in now if ino in first and now[ino] != first[ino]]
    check(len(reused) > 0, 'finished files come back under new names '
          '(the same inodes, no unlink and create)',
          f'{len(first)} at start, {len(now)} now, {len(reused)} reused')


def test_crash_states():
    # a delivered message, to forge its queue file as a crash left it
    body_marker = path = None
    for path in env.maildir_files(ALICE):
        with open(path, 'rb') as f:
            found = re.search(rb'recycle-\d+-end', f.read())
        if found:
            body_marker = found.group(0)
            break
    m = re.match(r'^(\d+)\.Q([0-9a-f]{16})_0\.', os.path.basename(path))
    check(m is not None and body_marker is not None,
          'Maildir names carry time and QID', path)
    qtime, qid = m.group(1), m.group(2)
    env.kill_group('smtpd')
    # before the truncate: the whole message under its own name
    put(qid, queue_file(qid, qtime, b'Subject: again\n\n' + body_marker +
                        b'\n'))
    # truncated, not renamed / renamed: empty files
    empties = ['00000001aaaaaaaa', '00000002bbbbbbbb']
    for e in empties:
        put(e, b'')
    # the rename kept, the truncate lost: content of another QID
    put('00000003cccccccc', queue_file('00000004dddddddd', qtime,
                                       b'Subject: aside\n\nnever-deliver\n'))
    env.start('smtpd', ports=[P1])
    log = lambda: env.daemons['smtpd'].log_text()  # noqa: E731
    check(ft.wait_for(lambda: 'already delivered before a restart' in log(),
                      30),
          'the whole finished file is found delivered', log()[-1500:])
    check(ft.wait_for(lambda: not os.path.exists(os.path.join(MSGDIR, qid)),
                      20), 'and then recycled or removed')
    for e in empties:
        check(not os.path.exists(os.path.join(MSGDIR, e)),
              f'empty {e} removed at start')
    check(ft.wait_for(lambda: 'qid=00000003cccccccc held finished message '
                      'qid=00000004dddddddd (a recycled file): removed'
                      in log(), 10),
          'a committed file whose id is not its name is logged',
          log()[-1500:])
    check(not os.path.exists(os.path.join(MSGDIR, '00000003cccccccc')),
          'and removed', os.listdir(MSGDIR))
    aside = os.path.join(env.state_dir, 'queue', 'corrupt')
    check(not os.path.isdir(aside) or not os.listdir(aside),
          'nothing set aside in corrupt/',
          os.listdir(aside) if os.path.isdir(aside) else None)
    c = ft.RawSMTP(P1)
    c.ehlo()
    code, _ = c.mail_transaction('x@example.net', [ALICE],
                                 b'Subject: last\r\n\r\nrecycle-last\r\n')
    c.close()
    check(code == 250 and env.wait_message(ALICE, 'recycle-last'),
          'the queue still works')
    check(len(env.find_messages(ALICE, body_marker)) == 1,
          'the finished message was not delivered twice')
    check(not env.find_messages(ALICE, b'never-deliver'),
          "the recycled file's content was not delivered")


def test_written_over():
    """slack and CRC (smtpd/queue_file.c), as a crash leaves them"""
    env.kill_group('smtpd')
    qtime = int(time.time())
    old = b'Subject: earlier\n\nslack-secret of an earlier message\n' * 3
    # committed over a recycled file: delivered, without the slack
    put('00000005eeeeeeee', queue_file2(
        '00000005eeeeeeee', qtime, b'Subject: over\n\nslack-delivered\n',
        slack=old))
    # a block of the earlier message where the new one should be
    body = b'Subject: torn\n\ncrc-never-deliver\n'
    put('00000006ffffffff', queue_file2(
        '00000006ffffffff', qtime, body[:20] + old[:10] + body[30:],
        crc_of=body))
    env.start('smtpd', ports=[P1])
    log = lambda: env.daemons['smtpd'].log_text()  # noqa: E731
    check(ft.wait_for(lambda: env.find_messages(ALICE, b'slack-delivered'),
                      20), 'the message written over a recycled file is '
          'delivered', log()[-1500:])
    got = env.find_messages(ALICE, b'slack-delivered')
    check(len(got) == 1, 'once', got)
    check(not env.find_messages(ALICE, b'slack-secret'),
          "the earlier message's bytes are not part of it")
    check(ft.wait_for(lambda: 'qid=00000006ffffffff does not parse '
                      '(checksum mismatch): moved to' in log(), 10),
          'a file whose bytes do not match its CRC is set aside',
          log()[-1500:])
    aside = os.path.join(env.state_dir, 'queue', 'corrupt')
    check(os.path.exists(os.path.join(aside, '00000006ffffffff')),
          'into corrupt/', os.listdir(MSGDIR))
    time.sleep(1)
    check(not env.find_messages(ALICE, b'crc-never-deliver'),
          'and never delivered')


env.write_config(domains='example.org',
                 smtp={'listen': [f'127.0.0.1:{P1}'], 'timeout': '5s'})
env.add_user(ALICE, 'pw alice')
env.start('authd')
env.start('smtpd', ports=[P1])
ft.run_tests(env, [test_recycled, test_crash_states, test_written_over])
