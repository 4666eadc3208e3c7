# SPDX-License-Identifier: ISC
"""test_upgrade_state - the README's upgrade promise, against state that
older releases wrote: "The queue, the databases and the Maildirs with
their indexes are used as they are: nothing queued is lost, and mail
clients keep their UIDs."

Each tests/fixtures/upgrade/state-COMMIT.tar.gz (made by that commit's
daemons, see the README there) holds its configuration, state_dir (users,
an alias, a DKIM key, the state of two [fetch] accounts, the greylisting
database, three messages queued
for a smarthost that was down) and the Maildirs with their UID lists, modseqs,
keywords and caches, and seen.json: what the clients saw then.  Unpacked
into a temporary installation in the production shape (root's
directories; state files root's, Maildirs the mail account's), this
tree's authd, smtpd and imapd are started on it as root, with the role
accounts of test_privsep, using the old configuration file as it is
(paths and ports filled in).  Then, with real clients:

- the ownership fix-up at start gave users.db, aliases.db and the queue
  to their role accounts;
- IMAP and POP3 logins and SMTP AUTH take the old passwords;
- every folder has its UIDVALIDITY, its UIDs, flags and keywords;
  UIDNEXT and HIGHESTMODSEQ do not go backwards, and nothing changed
  since the old HIGHESTMODSEQ (CHANGEDSINCE) when the old release had
  CONDSTORE; POP3 UIDLs are the same;
- the queue takes the old queue files; the smarthost, up now, gets each
  queued message exactly once, and the local recipient that had one
  before the upgrade does not get it again (QID.done); a new submission is signed
  with the old DKIM key;
- the alias still delivers, and new mail continues the UIDs;
- the [fetch] accounts (keep=yes) fetch nothing again (their state
  files, root's in the tarball, are given to the fetch role at start);
  made unreadable (mode 000), one is not polled rather than fetched
  again;
- the greylisted triplet passes at once, a new one is greylisted (the
  database's dates are moved to now in place, same length, so that the
  fixture does not age past allow_time).

As an ordinary user it checks nothing and says so (the production
privilege drop needs root; CI runs as root).
"""

import glob
import imaplib
import json
import os
import poplib
import pwd
import re
import smtplib
import ssl
import subprocess
import sys
import tarfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
import relay_fixtures as rf  # noqa: E402

BASE = '_factest'
FIXTURES = os.path.join(ft.SRC, 'tests', 'fixtures', 'upgrade')


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def chown_tree(path, uid, gid):
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)


def refresh_greylist(db, now):
    """Move the times of the records in greylist.db to now, in place:
    "W|P FIRST LAST" and the "LAST" of c/d records are 10 digits, so the
    file keeps its layout (Berkeley DB keeps no checksum of its pages)."""
    with open(db, 'rb') as f:
        data = f.read()
    stamp = str(now).encode()
    new = re.sub(rb'([WP]) \d{10} \d{10}',
                 lambda m: m.group(1) + b' ' + stamp + b' ' + stamp, data)
    with open(db, 'wb') as f:
        f.write(new)
    return new != data


def count_subject(env, addr, subject):
    """messages with this Subject in every folder of addr's Maildir"""
    n = 0
    for root, _dirs, files in os.walk(env.mail_dir(addr)):
        if os.path.basename(root) not in ('new', 'cur'):
            continue
        for f in files:
            with open(os.path.join(root, f), 'rb') as fp:
                n += f'\nSubject: {subject}\n'.encode() in b'\n' + fp.read()
    return n


def start_root(env, name, ports):
    """Start facteur-NAME as root, the production way (it drops to the
    role accounts itself); registered so that env.stop_all() stops it."""
    log = env.path('logs', f'{name}.log')
    p = subprocess.Popen(  # pylint: disable=consider-using-with
        [env.binary(name), '-c', env.conf, '-d'],
        stdout=open(log, 'ab'), stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, cwd=env.tmp, start_new_session=True,
        env=env._preexec_env(ft.DAEMON_ASAN))
    env.daemons[name] = ft.Daemon(name, p, log)
    if name == 'authd':
        sock = os.path.join(env.run_dir, 'authd.sock')
        ok = ft.wait_for(lambda: os.path.exists(sock) or
                         p.poll() is not None, 20) and os.path.exists(sock)
    else:
        ok = all(ft.wait_port(pt, 20, p) for pt in ports)
    ok = ok and p.poll() is None
    check(ok, f'{name} starts as root on the old state',
          env.daemons[name].log_text()[-3000:])
    return ok


def ctl(env, *args):
    return subprocess.run([env.binary('ctl'), '-c', env.conf] + list(args),
                          capture_output=True, text=True, timeout=30)


def submit(port, user, password, rcpts, subject):
    msg = (f'From: {user}\r\nTo: {", ".join(rcpts)}\r\n'
           f'Subject: {subject}\r\nDate: Mon, 07 Dec 2026 13:00:00 +0000\r\n'
           f'Message-ID: <{subject.replace(" ", "-")}@example.org>\r\n\r\n'
           f'after the upgrade\r\n')
    with smtplib.SMTP('127.0.0.1', port, timeout=20) as c:
        c.starttls(context=tls_ctx())
        c.login(user, password)
        c.sendmail(user, list(rcpts), msg.encode())


def grey_rcpt(port, src, sender, rcpt):
    c = smtplib.SMTP('127.0.0.1', port, local_hostname='client.test',
                     timeout=20, source_address=(src, 0))
    try:
        c.ehlo('client.test')
        c.mail(sender)
        return c.rcpt(rcpt)[0]
    finally:
        try:
            c.quit()
        except smtplib.SMTPException:
            pass


def imap_folder(m, box, condstore):
    typ, _ = m.select(box)
    if typ != 'OK':
        return None
    r = m.untagged_responses
    got = {'uidvalidity': int(r['UIDVALIDITY'][0]),
           'uidnext': int(r['UIDNEXT'][0]),
           'highestmodseq': int(r['HIGHESTMODSEQ'][0])
           if 'HIGHESTMODSEQ' in r else None,
           'permanentflags': r.get('PERMANENTFLAGS', [b''])[0]}
    items = '(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE%s)' % (
        ' MODSEQ' if condstore else '')
    msgs, meta = {}, {}
    for d in m.uid('FETCH', '1:*', items)[1]:
        if not d:
            continue
        head = d.decode() if isinstance(d, bytes) else d[0].decode()
        uid = int(re.search(r'UID (\d+)', head).group(1))
        msgs[uid] = sorted(re.search(r'FLAGS \(([^)]*)\)', head)
                           .group(1).split())
        meta[uid] = [re.search(r'ENVELOPE \((?:NIL|"[^"]*") "([^"]*)"',
                               head).group(1),
                     re.search(r'INTERNALDATE "([^"]+)"', head).group(1),
                     int(re.search(r'RFC822.SIZE (\d+)', head).group(1))]
    # the header cache (facteur-cache) answers HEADER.FIELDS
    for d in m.uid('FETCH', '1:*',
                   '(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[1]:
        if isinstance(d, tuple):
            uid = int(re.search(r'UID (\d+)', d[0].decode()).group(1))
            meta.setdefault(uid, []).append(
                d[1].decode().strip().partition(': ')[2])
    got['meta'] = meta
    got['msgs'] = msgs
    return got


def check_imap(env, seen, imaps, tag):
    pw = seen['users']
    m = imaplib.IMAP4_SSL('127.0.0.1', imaps, ssl_context=tls_ctx(),
                          timeout=20)
    m.login('alice@example.org', pw['alice@example.org'])
    check(True, f'{tag}: IMAP login with the old password')
    condstore = 'CONDSTORE' in m.capabilities
    m._simple_command('ENABLE', 'QRESYNC')  # pylint: disable=W0212
    boxes = [x.decode() for x in m.list()[1]]
    for box, old in seen['imap'].items():
        check(box == 'INBOX' or any(b.endswith(f' {box}') or
                                    b.endswith(f' "{box}"') for b in boxes),
              f'{tag}: folder {box} listed', boxes)
        got = imap_folder(m, box, condstore)
        if got is None:
            check(False, f'{tag}: {box} selects')
            continue
        check(got['uidvalidity'] == old['uidvalidity'],
              f'{tag}: {box} keeps its UIDVALIDITY',
              (got['uidvalidity'], old['uidvalidity']))
        want = {x[0]: sorted(x[1]) for x in old['msgs']}
        check(sorted(got['msgs']) == sorted(want),
              f'{tag}: {box} keeps its UIDs', (sorted(got['msgs']),
                                                sorted(want)))
        check(got['msgs'] == want, f'{tag}: {box} keeps flags and keywords',
              (got['msgs'], want))
        want = {u: [subj, date, size, subj]
                for u, _f, _ms, subj, date, size in old['msgs']}
        check(got['meta'] == want, f'{tag}: {box} keeps each UID\'s '
              'message, INTERNALDATE and RFC822.SIZE', (got['meta'], want))
        check(got['uidnext'] >= old['uidnext'],
              f'{tag}: {box} UIDNEXT does not go back',
              (got['uidnext'], old['uidnext']))
        check(got['highestmodseq'] is not None and got['highestmodseq'] > 0,
              f'{tag}: {box} has a HIGHESTMODSEQ', got['highestmodseq'])
        if old['highestmodseq'] is not None:
            check(got['highestmodseq'] >= old['highestmodseq'],
                  f'{tag}: {box} HIGHESTMODSEQ does not go back',
                  (got['highestmodseq'], old['highestmodseq']))
            ch = m.uid('FETCH', '1:*', f'(FLAGS) (CHANGEDSINCE '
                       f'{old["highestmodseq"]})')[1]
            check(ch == [None] or ch == [],
                  f'{tag}: {box} nothing changed since the old '
                  'HIGHESTMODSEQ', ch)
            gone = set(range(1, old['uidnext'])) - set(got['msgs'])
            m.select(box)
            m.uid('FETCH', '1:*', '(FLAGS) (CHANGEDSINCE 1 VANISHED)')
            van = set()
            for v in m.untagged_responses.get('VANISHED', []):
                for part in v.decode().split()[-1].split(','):
                    lo, _, hi = part.partition(':')
                    van.update(range(int(lo), int(hi or lo) + 1))
            check(gone <= van, f'{tag}: {box} still reports the old '
                  'expunges as VANISHED (EARLIER)', (gone, van))
        if any(f.startswith('$') for x in got['msgs'].values() for f in x):
            check(b'\\*' in got['permanentflags'],
                  f'{tag}: {box} still takes keywords',
                  got['permanentflags'])
    m.logout()
    return seen['imap']['INBOX']['uidnext']


def check_pop3(seen, pop3s, tag):
    for user, uidls in seen['uidl'].items():
        p = poplib.POP3_SSL('127.0.0.1', pop3s, context=tls_ctx(),
                            timeout=20)
        p.user(user)
        p.pass_(seen['users'][user])
        got = [x.decode().split()[1] for x in p.uidl()[1]]
        p.quit()
        check(got == uidls, f'{tag}: POP3 UIDLs of {user} are the same',
              (got, uidls))


def check_fetch_unreadable(env, tag, p25, sub, fetched):
    """A state file the fetch role cannot read (mode 000: the start gives
    the files to the role, it leaves their modes): that account is not
    polled, rather than fetched all over again; the other one is."""
    log = env.daemons['smtpd'].log_text
    states = glob.glob(os.path.join(env.state_dir, 'fetch', 'imap-*'))
    env.stop('smtpd')
    for f in states:
        os.chmod(f, 0)
    n0 = log().count('fetch: account=')
    if not start_root(env, 'smtpd', [p25, sub]):
        return
    ft.wait_for(lambda: log().count('fetch: account=') >= n0 + 2, 20)
    text = log()
    check(re.search(r'fetch: account=keep@example.org@localhost state '
                    r'\S+: not fetched until it can be read', text) and
          'fetch: account=popkeep@example.org@localhost to=' in
          text[len(text) - 2000:],
          f'{tag}: an unreadable fetch state: that account waits, the '
          'other is polled', text[-2000:])
    n = {subj: count_subject(env, 'alice@example.org', subj)
         for subj in fetched}
    check(n == fetched, f'{tag}: an unreadable fetch state fetches nothing '
          'again', (n, fetched))


def run_fixture(tarball, acct):
    with tarfile.open(tarball) as t:
        seen = json.load(t.extractfile('seen.json'))
    tag = seen['commit']
    env = ft.Env(f'upgrade-{tag}')
    with tarfile.open(tarball) as t:
        # ours, with its modes (Python >= 3.11.4 wants the filter named)
        kw = {'filter': 'fully_trusted'} \
            if hasattr(tarfile, 'fully_trusted_filter') else {}
        t.extractall(env.tmp, **kw)
    p25, sub, imaps, pop3s, relay = (env.port() for _ in range(5))
    env.make_cert()
    with open(env.path('facteur.conf.in'), encoding='utf-8') as f:
        conf = f.read()
    imap_ports = [imaps] + ([pop3s] if '@POP3S@' in conf else [])
    for k, v in (('TMP', env.tmp), ('SMTP', p25), ('SUBMISSION', sub),
                 ('IMAPS', imaps), ('POP3S', pop3s), ('RELAY', relay),
                 ('USER', BASE)):
        conf = conf.replace(f'@{k}@', str(v))
    with open(env.conf, 'w', encoding='utf-8') as f:
        f.write(conf)
    # the production shape: root's directories and state files (as the
    # tarball has them), the Maildirs the mail account's
    for d in (env.tmp, env.state_dir, env.run_dir):
        os.chown(d, 0, 0)
        os.chmod(d, 0o755)
    os.chown(env.key, 0, 0)
    if os.path.exists(env.path('fetch.secret')):
        os.chown(env.path('fetch.secret'), 0, 0)   # root's, as relay's
    # the fetch state is named by the account's port, which this run
    # could not have again: the same accounts on the ports of this run
    for k, new in (('IMAPS', imaps), ('POP3S', pop3s)):
        old = seen.get('ports', {}).get(k)
        for f in glob.glob(os.path.join(env.state_dir, 'fetch',
                                        f'*-{old}-*')):
            os.rename(f, f.replace(f'-{old}-', f'-{new}-'))
    chown_tree(env.mail_root, acct['mail'].pw_uid, acct['mail'].pw_gid)
    os.chown(env.mail_root, 0, 0)
    if seen.get('greylist'):
        check(refresh_greylist(os.path.join(env.state_dir, 'greylist.db'),
                               int(time.time())),
              f'{tag}: greylist.db holds the passed triplet')
    # what was fetched before (one of them may have been expunged since)
    fetched = {subj: count_subject(env, 'alice@example.org', subj)
               for subj in seen.get('fetched', [])}
    # the smarthost is up before smtpd starts: the first attempt at start
    # must succeed, else a fixture older than [queue] expire (30d) would
    # bounce its queued messages
    sink = rf.Sink(env, None, port=relay)
    try:
        if not (start_root(env, 'authd', []) and
                start_root(env, 'imapd', imap_ports) and
                start_root(env, 'smtpd', [p25, sub])):
            return
        if seen.get('fetched'):
            log = env.daemons['smtpd'].log_text
            ft.wait_for(lambda: log().count('fetch: account=') >= 2, 20)
            polls = re.findall(r'fetch: account=(\S+) .*fetched=(\d+)',
                               log())
            check(len(polls) == 2 and all(n == '0' for _a, n in polls),
                  f'{tag}: [fetch] keep=yes accounts fetch nothing again',
                  polls)
            for subj, n0 in fetched.items():
                n = count_subject(env, 'alice@example.org', subj)
                check(n == n0, f'{tag}: "{subj}" is not fetched again',
                      (n, n0))
        for f, role in (('users.db', 'auth'), ('aliases.db', 'auth'),
                        ('queue', 'queue')):
            st = os.stat(os.path.join(env.state_dir, f))
            check(st.st_uid == acct[role].pw_uid,
                  f'{tag}: {f} given to {BASE}-{role} at start',
                  (st.st_uid, acct[role].pw_uid))
        log = env.daemons['smtpd'].log_text
        ft.wait_for(lambda: 'resuming' in log(), 10)
        text = log()
        n = len(seen['queued'])
        check(f'resuming {n} queued messages (0 that do not parse' in text,
              f'{tag}: the queue takes the {n} old queue files',
              text[-2000:])
        old_uidnext = check_imap(env, seen, imaps, tag)
        check_pop3(seen, pop3s, tag)

        # each queued message once, to the smarthost
        ft.wait_for(lambda: len(sink.msgs) >= len(seen['queued']), 20)
        time.sleep(1.0)
        got = sorted((re.search(rb'Subject: ([^\r\n]+)', x['data'])
                      .group(1).decode(), tuple(x['rcpt']))
                     for x in sink.msgs)
        want = sorted((s, (r,)) for s, r in seen['queued'].items())
        check(got == want, f'{tag}: the queued messages are delivered '
              'exactly once', (got, want))
        check(all(b'DKIM-Signature:' in x['data'] and b's=old2026'
                  in x['data'] for x in sink.msgs),
              f'{tag}: the queued messages carry their DKIM signature',
              [x['data'][:400] for x in sink.msgs])
        for subject, rcpt in seen.get('queued_local', {}).items():
            n = count_subject(env, rcpt, subject)
            check(n == 1, f'{tag}: {rcpt}, done before the upgrade, does '
                  f'not get "{subject}" again', n)
        ft.wait_for(lambda: 'far' not in ctl(env, 'queue', 'list').stdout,
                    10)
        r = ctl(env, 'queue', 'list')
        check('far' not in r.stdout, f'{tag}: the queue is empty after',
              r.stdout)

        # logins, the alias, the old DKIM key, the UIDs going on
        pw = seen['users']
        n = len(sink.msgs)
        submit(sub, 'alice@example.org', pw['alice@example.org'],
               ['far3@remote.test'], 'signed after')
        ft.wait_for(lambda: len(sink.msgs) > n, 20)
        check(len(sink.msgs) == n + 1 and
              b's=old2026' in sink.msgs[-1]['data'],
              f'{tag}: a new submission is signed with the old DKIM key',
              [x['data'][:400] for x in sink.msgs[n:]])
        submit(sub, 'bob@example.org', pw['bob@example.org'],
               ['team@example.org'], 'team after')
        for u in ('alice@example.org', 'bob@example.org'):
            check(len(env.wait_message(u, b'Subject: team after')) == 1,
                  f'{tag}: the old alias delivers to {u}')
        m = imaplib.IMAP4_SSL('127.0.0.1', imaps, ssl_context=tls_ctx(),
                              timeout=20)
        m.login('alice@example.org', pw['alice@example.org'])
        m.select('INBOX')
        uid = m.uid('SEARCH', 'SUBJECT', '"team after"')[1][0].split()
        m.logout()
        check(len(uid) == 1 and int(uid[0]) >= old_uidnext,
              f'{tag}: new mail continues the UIDs', (uid, old_uidnext))

        if seen.get('greylist'):
            g = seen['grey']
            code = grey_rcpt(p25, g['src'], g['from'], g['rcpt'])
            check(code == 250, f'{tag}: the greylisted sender is already '
                  'known', code)
            code = grey_rcpt(p25, g['src'], 'new@sender.test', g['rcpt'])
            check(code == 451, f'{tag}: a new sender is still greylisted',
                  code)
        if seen.get('fetched'):
            check_fetch_unreadable(env, tag, p25, sub, fetched)
    finally:
        if sink is not None:
            sink.stop()
        env.stop_all()
        if ft.failed_count():
            env.dump_logs()
        env.cleanup()


def main():
    if os.geteuid() != 0:
        print('# not root: the upgrade in the production shape needs root')
        print('0 passed, 0 failed')
        return 0
    fixtures = sorted(glob.glob(os.path.join(FIXTURES, 'state-*.tar.gz')))
    check(len(fixtures) >= 2, 'fixtures of two older releases', fixtures)
    ft.ensure_account(BASE)
    os.environ['FACTEUR_TEST_USER'] = BASE
    # the role accounts, as test_privsep makes them
    env = ft.Env('upgrade-accounts')
    env.write_config()
    for _ in range(5):      # test_privsep may be making them right now
        r = subprocess.run([env.binary('keytool'), '-c', env.conf,
                            'accounts'], capture_output=True, text=True)
        if 'useradd' not in r.stdout:
            break
        subprocess.run(['sh', '-e'], input=r.stdout, text=True)
        time.sleep(0.5)
    env.cleanup()
    acct = {role: pwd.getpwnam(f'{BASE}-{role}')
            for role in ('auth', 'smtp', 'queue')}
    acct['mail'] = pwd.getpwnam(BASE)
    for t in fixtures:
        try:
            run_fixture(t, acct)
        except Exception:  # pylint: disable=broad-except
            check(False, f'{os.path.basename(t)}: no exception',
                  traceback.format_exc())
    return ft.summary()


if __name__ == '__main__':
    sys.exit(main())
