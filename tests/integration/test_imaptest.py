# SPDX-License-Identifier: ISC
"""test_imaptest - Dovecot's imaptest compliance suite against facteur-imapd
(its 71 scripts in tests/conformance/imaptest/imaptest/src/tests/, one file
per area: append, fetch-envelope, list, search-header, thread, ...), so that
the conformance score cannot regress unnoticed.

The tester is the independent one vendored in tests/conformance/imaptest/
(README there), built into $(B)/imaptest/imaptest beside FACTEUR_BIN's
directory (`make B=build-san imaptest`; FACTEUR_IMAPTEST names another).
Each script runs in its own imaptest process (test=FILE) over implicit TLS
(ssl=any-cert: imaptest has no STARTTLS), which tells for each script
whether every command got the expected reply, or that the script was
skipped because the server does not advertise a capability its header
names.  IMAPTEST_JOBS processes run at once (default 2), each as its own
users, so that they never share a folder.  Then one process runs them all
one after the other as two more users (test=DIR, as imaptest.sh
does), which catches what one script leaves behind for the next (folders,
subscriptions, flags).  About 10 s in all.

Fails if a script fails (its imaptest output is printed), if fewer than
EXPECTED_PASSED pass, or if the skipped scripts are not exactly
EXPECTED_SKIPPED: a script newly skipped (a capability no longer
advertised) fails, and so does one that starts to run (update the list
with the capability).  Where facteur and Dovecot 2.3.19 stand:
imapd/README.md."""

import concurrent.futures
import os
import queue
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402

SCRIPTS = os.path.join(ft.SRC, 'tests', 'conformance', 'imaptest',
                       'imaptest', 'src', 'tests')
IMAPTEST = os.environ.get('FACTEUR_IMAPTEST') or os.path.join(
    os.path.dirname(os.path.abspath(ft.BIN)), 'imaptest', 'imaptest')
JOBS = int(os.environ.get('IMAPTEST_JOBS', '2'))
SCRIPT_TIMEOUT = 120    # seconds; imaptest gives up on a reply after 30
ALL_TIMEOUT = 300
PASS = 'imaptest-pass'

# facteur advertises neither NOTIFY (RFC 5465) nor URLAUTH (RFC 4467):
# notify, urlauth, urlauth-binary and urlauth2 need them
EXPECTED_SKIPPED = {'notify', 'urlauth', 'urlauth-binary', 'urlauth2'}
EXPECTED_PASSED = 67

env = None
PORT = 0


def users(k):
    """The two users (user, user2) of imaptest process slot k.  Scripts
    with two connections (copy, expunge2, ...) log both in as user; one
    whose header says `user 2: $user2` (urlauth2) is skipped without it."""
    return f'imaptest{k}@example.org', f'imaptest{k}b@example.org'


def setup():
    global env, PORT
    env = ft.Env()
    PORT = env.port()
    env.write_config(imap={'listen': f'127.0.0.1:{PORT}'})
    for k in range(JOBS + 1):     # slot JOBS: test_all_in_one_process
        for u in users(k):
            env.add_user(u, PASS)
    env.start('authd')
    env.start('imapd', ports=[PORT])


def scripts():
    """Names of the test scripts (every file but the .mbox data)."""
    return sorted(f for f in os.listdir(SCRIPTS)
                  if not f.endswith('.mbox')
                  and os.path.isfile(os.path.join(SCRIPTS, f)))


GROUPS = re.compile(r'^\d+ test groups: (\d+) failed, (\d+) skipped', re.M)


def imaptest(path, slot, timeout):
    """Run imaptest test=path as the users of slot; (m, rc, output): m
    the match of its summary line (None: it crashed or timed out), rc its
    exit status (None: killed), output its command line, status, time and
    output."""
    user, user2 = users(slot)
    cmd = [IMAPTEST, 'host=127.0.0.1', f'port={PORT}', 'ssl=any-cert',
           f'user={user}', f'user2={user2}', f'pass={PASS}', f'test={path}']
    start = time.monotonic()
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, cwd=env.tmp, check=False)
        out, rc = r.stdout.decode('utf-8', 'replace'), r.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b'').decode('utf-8', 'replace')
        out += f'\n(killed after {timeout} s)'
        rc = None
    took = time.monotonic() - start
    return (GROUPS.search(out), rc,
            f'{" ".join(cmd)}\nexit {rc}, {took:.1f} s\n{out}')


def run_script(name, slot):
    """Run one script as imaptest process slot; (result, output) with result
    'pass', 'skipped', 'FAIL' or 'error' (no summary line: a crash or a
    timeout)."""
    m, rc, out = imaptest(os.path.join(SCRIPTS, name), slot, SCRIPT_TIMEOUT)
    if m is None:
        res = 'error'
    elif m.group(2) != '0':
        res = 'skipped'
    elif m.group(1) != '0' or rc != 0:
        res = 'FAIL'
    else:
        res = 'pass'
    return res, out


def run_all(names):
    """Run the scripts, JOBS at a time, each process as the users of a slot
    no other running process has; name -> (result, output)."""
    slots = queue.Queue()
    for k in range(JOBS):
        slots.put(k)

    def one(name):
        slot = slots.get()
        try:
            return run_script(name, slot)
        finally:
            slots.put(slot)

    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        return dict(zip(names, pool.map(one, names)))


def test_compliance():
    if not ft.check(os.access(IMAPTEST, os.X_OK), f'{IMAPTEST} is built',
                    'make B=build-san imaptest (needs dovecot-dev)'):
        return
    names = scripts()
    start = time.monotonic()
    results = run_all(names)
    by = {r: sorted(n for n in names if results[n][0] == r)
          for r in ('pass', 'skipped', 'FAIL', 'error')}
    bad = by['FAIL'] + by['error']
    for name in bad:
        print(f'# ---- imaptest {name}: {results[name][0]}')
        for line in results[name][1].splitlines()[-150:]:
            print(f'# | {line}')
    print(f'# imaptest: {len(by["pass"])} passed, {len(by["FAIL"])} failed, '
          f'{len(by["error"])} errors, {len(by["skipped"])} skipped of '
          f'{len(names)} scripts in {time.monotonic() - start:.1f} s',
          flush=True)
    ft.check(not bad, 'every imaptest script passes or is skipped',
             ' '.join(f'{n} ({results[n][0]})' for n in bad))
    ft.check(set(by['skipped']) == EXPECTED_SKIPPED,
             'the scripts skipped are those expected',
             f'skipped {by["skipped"]}, expected {sorted(EXPECTED_SKIPPED)}')
    ft.check(len(by['pass']) >= EXPECTED_PASSED,
             f'at least {EXPECTED_PASSED} scripts pass',
             f'{len(by["pass"])} passed')


def test_all_in_one_process():
    """every script in one process, as the same two users"""
    if not os.access(IMAPTEST, os.X_OK):
        return
    m, rc, out = imaptest(SCRIPTS, JOBS, ALL_TIMEOUT)
    print('# ' + '\n# '.join(l for l in out.splitlines()
                             if re.match(r'(\d+ test groups|base protocol|'
                                         r'extensions):', l)), flush=True)
    ok = m is not None and rc == 0 and m.group(1) == '0' and \
        m.group(2) == str(len(EXPECTED_SKIPPED))
    if not ok:
        for line in out.splitlines()[-300:]:
            print(f'# | {line}')
    ft.check(ok, 'all scripts in one process: none fails, '
             f'{len(EXPECTED_SKIPPED)} skipped', m and m.group(0))


if __name__ == '__main__':
    ft.main(lambda: env, setup, [test_compliance, test_all_in_one_process])
