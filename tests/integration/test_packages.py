# SPDX-License-Identifier: ISC
"""test_packages - the OpenWrt package as opkg installs it (issue 15).

`make ipk` (the static multi-call build, x86_64; a gzipped tar as
OpenWrt's opkg reads it, and the IPK_OUTER=ar form) is installed into a
busybox root (Debian's busybox-static; chroot, so root only) the way opkg
does it: control files to /usr/lib/opkg/info/, data unpacked, the file
list and the conffiles' checksums recorded, then `postinst configure`
inside the root.  OpenWrt's /lib/functions.sh and /etc/rc.common + procd
are replaced by the small stand-ins of openwrt_shim/ (procd_close_instance
starts the command in the background: no respawn, no ubus).  Checked: the
archive's layout, that postinst makes the account, runs `facteur-keytool
setup` (the password printed once) and starts the service; mail flows
(submission, local delivery with DKIM, IMAP); an upgrade to a new version
keeps the modified conffile (the new one as facteur.conf-opkg), the
users, keys and mail; removal stops the daemons and leaves the data.

Prints `# measure:` lines: package size, and the time from unpacking to
the first mail read back.  With FACTEUR_PKG_LIBC=musl (make check's musl
suite, after its build) the same for the ipk of the static musl build
(`make ipk PKG_LIBC=musl`, the default once `make musl-deps` has run)
and its spk, installed and removed, without the upgrades.  Without it,
PKG_LIBC=glibc.  With FACTEUR_PKG_CROSS=arm-linux-gnueabihf-
(make check's cross suite, after its static armhf build) or
aarch64-linux-gnu- (make check CROSS=aarch64-linux-gnu- STATIC=1) it only
builds that architecture's ipk and spk from the static cross build, checks
that they carry a static ARM executable and runs `facteur keytool setup`
from it under qemu-arm or qemu-aarch64 (FACTEUR_PKG_LIBC=musl: the musl
build, PKG_LIBC=musl; else PKG_LIBC=glibc).  FACTEUR_PKG_CROSS_INSTALL=ipk
(the cross suite, with the musl build) adds the install, mail and removal
of the ipk alone, as the musl suite does for x86_64; =1
(make check CROSS=... STATIC=1 sets it) adds the install tests above for
those packages, ipk and spk, install, mail, upgrade and removal, with
their ARM executable run under qemu-user: there is no binfmt_misc here,
so the package's bin/facteur is replaced, once unpacked, by a script
that runs it under qemu with the name it was called by, and the busybox
root gets a copy of qemu and the libraries it needs.  Not tried here: real opkg, real procd, ubus,
a real OpenWrt image, qemu-system."""

import gzip
import hashlib
import imaplib
import io
import json
import os
import re
import shutil
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
env = ft.Env()
PKG = env.path('pkg')
# FACTEUR_PKG_LIBC=musl (make check's musl suite): the ipk of the musl
# build (PKG_LIBC=musl), installed, run and removed in the busybox root;
# no upgrade, no spk
LIBC = os.environ.get('FACTEUR_PKG_LIBC', '')
LIBC_ARGS = [f'PKG_LIBC={LIBC or "glibc"}']  # make's default follows the musl cache
ALICE = 'alice@example.org'
PORTS = [env.port() for _ in range(4)]
SETUP_ARGS = ('--listen 127.0.0.1 --ports ' + ','.join(map(str, PORTS)) +
              f' --user {ALICE}')
STATE = {}


def make(*args):
    e = {k: v for k, v in os.environ.items()
         if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES')}
    return subprocess.run(['make', '-s', '--no-print-directory'] + list(args),
                          cwd=ft.SRC, env=e, capture_output=True, text=True,
                          timeout=400)


def ar_members(path):
    """[(name, bytes)] of an ar archive, checking its framing"""
    data = open(path, 'rb').read()
    if data[:8] != b'!<arch>\n':
        raise ValueError('no ar magic')
    out, pos = [], 8
    while pos < len(data):
        hdr = data[pos:pos + 60]
        if hdr[58:60] != b'`\n':
            raise ValueError(f'bad member header at {pos}')
        name = hdr[:16].decode().strip()
        size = int(hdr[48:58])
        out.append((name, data[pos + 60:pos + 60 + size]))
        pos += 60 + size + (size & 1)
    return out


def ipk_members(path):
    """[(name, bytes)] of an ipk: OpenWrt's gzipped tar (names without
    './', which opkg-lede strips too) or an ar archive"""
    if open(path, 'rb').read(2) != b'\x1f\x8b':
        return ar_members(path)
    out = []
    with tarfile.open(path, 'r:gz') as t:
        for m in t.getmembers():
            name = m.name[2:] if m.name.startswith('./') else m.name
            out.append((name, t.extractfile(m).read()))
    return out


def tar_of(blob):
    return tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)))


# ---- the busybox root, and opkg's steps --------------------------------

ROOT = env.path('owrt')
INFO = os.path.join(ROOT, 'usr/lib/opkg/info')


def chroot(script, extra_env=None, timeout=120):
    e = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'HOME': '/root'}
    e.update(extra_env or {})
    return subprocess.run(['chroot', ROOT, '/bin/sh', '-c', script], env=e,
                          capture_output=True, text=True, timeout=timeout)


def make_root():
    for d in ('bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'lib', 'tmp',
              'var/run', 'var/log', 'root', 'dev', 'proc', 'usr/lib/opkg/info'):
        os.makedirs(os.path.join(ROOT, d), exist_ok=True)
    os.chmod(os.path.join(ROOT, 'tmp'), 0o1777)
    shutil.copy2(shutil.which('busybox'), os.path.join(ROOT, 'bin/busybox'))
    for name, text in (('etc/passwd', 'root:x:0:0:root:/root:/bin/ash\n'),
                       ('etc/group', 'root:x:0:\n'),
                       ('etc/shadow', 'root:*:0:0:99999:7:::\n'),
                       ('etc/hosts', '127.0.0.1 localhost\n'),
                       ('usr/lib/opkg/status', '')):
        with open(os.path.join(ROOT, name), 'w', encoding='utf-8') as f:
            f.write(text)
    os.mknod(os.path.join(ROOT, 'dev/null'), 0o666 | 0o020000,
             os.makedev(1, 3))
    os.chmod(os.path.join(ROOT, 'dev/null'), 0o666)
    shutil.copy(os.path.join(HERE, 'openwrt_shim/rc.common'),
                os.path.join(ROOT, 'etc/rc.common'))
    shutil.copy(os.path.join(HERE, 'openwrt_shim/functions.sh'),
                os.path.join(ROOT, 'lib/functions.sh'))
    os.symlink('busybox', os.path.join(ROOT, 'bin/sh'))
    r = chroot('/bin/busybox --install -s')
    check(r.returncode == 0, 'busybox installs its applets in the root',
          r.stderr)
    if QEMU:
        qemu_into_root()


def md5(path):
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


def opkg_install(ipk, upgrade=False):
    """What opkg install/upgrade does, in its order; returns postinst's
    CompletedProcess."""
    members = dict(ipk_members(ipk))
    control = tar_of(members['control.tar.gz'])
    names = {}
    for m in control.getmembers():
        if m.isfile():
            names[os.path.basename(m.name)] = control.extractfile(m).read()
    conffiles = names.get('conffiles', b'').decode().split()
    # modified conffiles are kept (opkg: backup, unpack, restore and put
    # the package's version next to it as FILE-opkg)
    old = STATE.get('conffiles', {})
    keep = {c: open(ROOT + c, 'rb').read() for c in conffiles
            if upgrade and os.path.exists(ROOT + c) and md5(ROOT + c) != old.get(c)}
    data = tar_of(members['data.tar.gz'])
    listed = []
    for m in data.getmembers():
        path = os.path.normpath(os.path.join(ROOT, m.name))
        if not m.isdir():
            listed.append('/' + os.path.normpath(m.name))
            if os.path.lexists(path):   # a running binary: unlink first
                os.unlink(path)
        data.extract(m, ROOT, set_attrs=True, numeric_owner=True)
    if QEMU:
        qemu_wrap(os.path.join(ROOT, 'usr/sbin/facteur'), '/usr/sbin/facteur',
                  '/usr/bin/' + os.path.basename(QEMU[0]))
    for c, content in keep.items():
        os.replace(ROOT + c, ROOT + c + '-opkg')
        with open(ROOT + c, 'wb') as f:
            f.write(content)
    for n, blob in names.items():
        p = os.path.join(INFO, f'facteur.{n}')
        with open(p, 'wb') as f:
            f.write(blob)
        os.chmod(p, 0o755 if n in ('postinst', 'prerm') else 0o644)
    with open(os.path.join(INFO, 'facteur.list'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(listed) + '\n')
    if not upgrade:
        STATE['conffiles'] = {c: md5(ROOT + c) for c in conffiles}
    return chroot('/usr/lib/opkg/info/facteur.postinst configure',
                  {'FACTEUR_DOMAIN': 'example.org',
                   'FACTEUR_SETUP_ARGS': SETUP_ARGS})


# ---- ARM packages run under qemu-user (FACTEUR_PKG_CROSS_INSTALL) ---------

# [qemu program, -cpu, CPU] when the packages under test are ARM ones
QEMU = []


def qemu_wrap(path, inside, qemu):
    """the package's ARM executable at path (named inside from where it
    runs) moved to path.qemu and replaced by a script that runs it under
    qemu-user with the name it was called by (the multi-call binary
    looks at argv[0]): binfmt_misc is not available here"""
    os.replace(path, path + '.qemu')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(f'#!/bin/sh\nexec {qemu} {" ".join(QEMU[1:])} -0 "$0" '
                f'{inside}.qemu "$@"\n')
    os.chmod(path, 0o755)
    st = os.stat(path + '.qemu')
    os.chown(path, st.st_uid, st.st_gid)


def qemu_into_root():
    """Debian's qemu-user (dynamically linked) and the libraries ldd names
    for it, copied into the busybox root at the same paths"""
    exe = shutil.which(QEMU[0])
    files = [exe]
    out = subprocess.run(['ldd', exe], capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.search(r'(/\S+) \(0x', line)
        if m:
            files.append(m.group(1))
    for f in files:
        dest = ROOT + (f'/usr/bin/{os.path.basename(f)}' if f == exe else f)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(f, dest)


# ---- mail -----------------------------------------------------------------

def slow():
    """how much longer to wait for the daemons: under qemu-user on a
    loaded machine, postinst's setup and the starts take far longer"""
    return 3 if QEMU else 1


def no_verify():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def send(marker, password):
    """submit through port 465; procd starts the three daemons at once, so
    authd may still be loading its keys: 454 is retried for a while"""
    deadline = time.time() + 20 * slow()
    with smtplib.SMTP_SSL('127.0.0.1', PORTS[2], context=no_verify(),
                          timeout=30) as c:
        while True:
            try:
                c.login(ALICE, password)
                break
            except smtplib.SMTPAuthenticationError as e:
                if e.smtp_code != 454 or time.time() > deadline:
                    raise
                time.sleep(0.3)
        c.sendmail(ALICE, ['postmaster@example.org'],
                   f'From: {ALICE}\r\nTo: postmaster@example.org\r\n'
                   f'Subject: {marker}\r\n\r\nthrough the package\r\n')


def dns_listener():
    """a UDP socket on 127.0.0.1:53, where a resolver without
    /etc/resolv.conf (the busybox root, authd's chroot) sends its queries;
    None if the port is taken"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(('127.0.0.1', 53))
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def dns_queries(sock):
    """the names asked of dns_listener() so far"""
    names = []
    while True:
        try:
            q = sock.recv(512)
        except BlockingIOError:
            return names
        i, labels = 12, []
        while i < len(q) and q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode(errors='replace'))
            i += 1 + q[i]
        names.append('.'.join(labels))


def imap_subjects(password, marker):
    """numbers of INBOX messages whose subject holds marker, or an error"""
    deadline = time.time() + 15 * slow()
    while True:
        m = imaplib.IMAP4_SSL('127.0.0.1', PORTS[3], ssl_context=no_verify(),
                              timeout=30)
        try:
            try:
                m.login(password[0], password[1])
            except imaplib.IMAP4.error as e:
                if b'UNAVAILABLE' not in str(e).encode() or \
                        time.time() > deadline:
                    raise
                continue
            m.select('INBOX')
            typ, ids = m.search(None, 'SUBJECT', f'"{marker}"')
            found = ids[0].split() if typ == 'OK' else []
            if found:
                typ, got = m.fetch(found[0], '(BODY.PEEK[])')
                return found, got[0][1]
        finally:
            m.logout()
        if time.time() > deadline:
            return [], b''
        time.sleep(0.2)


def mail_survives(kind, password):
    """after an upgrade: the first mail is still there, the password still
    works, and new mail flows"""
    found, _ = imap_subjects((ALICE, password), f'{kind}-first')
    check(len(found) == 1, f'{kind} upgrade: the old mail and the password '
          'are kept')
    send(f'{kind}-second', password)
    found, _ = imap_subjects((ALICE, password), f'{kind}-second')
    check(len(found) == 1, f'{kind} upgrade: mail flows after the upgrade')


def daemons_up():
    return all(ft.wait_port(p, 20 * slow()) for p in PORTS)


# ---- tests ------------------------------------------------------------------

def test_build_ipk():
    # musl: no upgrade test (the glibc run's covers the scripts), one version
    for v in ('0.1-1',) if LIBC else ('0.1-1', '0.1-2'):
        r = make('ipk', f'PKG_OUT={PKG}', f'PKG_VERSION={v}', *LIBC_ARGS)
        check(r.returncode == 0, f'make ipk PKG_VERSION={v} {LIBC_ARGS}',
              r.stderr[-3000:])
    ipk = os.path.join(PKG, 'facteur_0.1-1_x86_64.ipk')
    STATE['ipk'] = ipk
    STATE['ipk2'] = os.path.join(PKG, 'facteur_0.1-2_x86_64.ipk')
    members = ipk_members(ipk)
    check(open(ipk, 'rb').read(2) == b'\x1f\x8b' and
          sorted(n for n, _ in members) == ['control.tar.gz', 'data.tar.gz',
                                           'debian-binary'],
          'the ipk is a gzipped tar of the three members (ipkg-build\'s form)',
          [n for n, _ in members])
    members = dict(members)
    check(members['debian-binary'] == b'2.0\n', 'debian-binary is 2.0')
    if LIBC:
        # static, and not glibc's (whose static programs carry its
        # tunables' names): the musl build
        binary = tar_of(members['data.tar.gz']).extractfile(
            './usr/sbin/facteur').read()
        check(elf_static(binary, 2, 62) and b'glibc.' not in binary,
              'the ipk carries a static executable without glibc')
        print(f'# measure: ipk x86_64 {LIBC}: {os.path.getsize(ipk)} bytes',
              flush=True)
        return
    # IPK_OUTER=ar: Debian's form, for Yocto's opkg (the C library named:
    # make's default, musl once its libraries are cached, would build
    # build-musl-tiny-static here, a minute, which the musl suite builds)
    r = make('ipk', f'PKG_OUT={PKG}/ar', 'IPK_OUTER=ar', *LIBC_ARGS)
    ar_ipk = os.path.join(PKG, 'ar', 'facteur_0.1-1_x86_64.ipk')
    check(r.returncode == 0 and [n for n, _ in ar_members(ar_ipk)] ==
          ['debian-binary', 'control.tar.gz', 'data.tar.gz'],
          'IPK_OUTER=ar: ar members in dpkg\'s order', r.stderr[-2000:])
    r = subprocess.run(['dpkg-deb', '-f', ar_ipk, 'Package', 'Architecture',
                        'Version'], capture_output=True, text=True)
    check(r.returncode == 0 and 'Architecture: x86_64' in r.stdout,
          'dpkg-deb reads the ar form', r.stdout + r.stderr)
    data = tar_of(members['data.tar.gz']).getnames()
    for want in ('./usr/sbin/facteur', './usr/sbin/facteur-smtpd',
                 './etc/init.d/facteur', './etc/facteur/facteur.conf',
                 './lib/upgrade/keep.d/facteur',
                 './usr/share/facteur/public_suffix_list.dat'):
        check(want in data, f'data.tar.gz has {want}', data)
    print(f'# measure: ipk x86_64: {os.path.getsize(ipk)} bytes', flush=True)


def test_install_and_mail():
    make_root()
    start = time.time()
    r = opkg_install(STATE['ipk'])
    check(r.returncode == 0, 'postinst configure exits 0', r.stderr[-2000:])
    m = re.search(r'password    (\S+)   \(shown only this once', r.stdout)
    if not check(m is not None, 'postinst prints the first password',
                 r.stdout[-1500:] + r.stderr[-1500:]):
        return
    STATE['pw'] = m.group(1)
    passwd = open(os.path.join(ROOT, 'etc/passwd'), encoding='utf-8').read()
    check('\n_facteur:x:' in passwd, 'postinst made the _facteur account',
          passwd)
    conf = open(os.path.join(ROOT, 'etc/facteur/facteur.conf'),
                encoding='utf-8').read()
    check('domains   = example.org' in conf and
          'state_dir = /srv/facteur/state' in conf,
          'the placeholder became a real configuration, data in /srv/facteur',
          conf)
    check('psl = /usr/share/facteur/public_suffix_list.dat' in conf,
          'DMARC uses the package\'s Public Suffix List', conf)
    check(os.path.exists(os.path.join(ROOT, 'etc/rc.d/S90facteur')),
          'the service is enabled')
    if not check(daemons_up(), 'authd, smtpd and imapd listen after '
                 'postinst'):
        return
    # the first login: libsasl2 once looked the host name up in the
    # hashing process (5 s where nothing answers on 127.0.0.1:53)
    dns = dns_listener()
    send('ipk-first', STATE['pw'])
    if dns is not None:
        names = dns_queries(dns)
        dns.close()
        check(names == [], 'the first login and mail ask no DNS question '
              '(there is no resolver here)', names)
    found, body = imap_subjects((ALICE, STATE['pw']), 'ipk-first')
    check(len(found) == 1 and b'DKIM-Signature:' in body,
          'mail submitted through the package is delivered, signed and '
          'read back over IMAP', body[:400])
    print(f'# measure: ipk unpack to mail read back: {time.time() - start:.2f}'
          ' s', flush=True)


def test_upgrade_keeps_everything():
    if 'pw' not in STATE:
        check(False, 'upgrade: needs the first install')
        return
    conf = os.path.join(ROOT, 'etc/facteur/facteur.conf')
    before_conf = md5(conf)
    keys = sorted(os.listdir(os.path.join(ROOT, 'srv/facteur/state/dkim')))
    key_sums = [md5(os.path.join(ROOT, 'srv/facteur/state/dkim', k))
                for k in keys]
    r = opkg_install(STATE['ipk2'], upgrade=True)
    check(r.returncode == 0 and 'password' not in r.stdout,
          'upgrade: postinst runs no second setup', r.stdout + r.stderr)
    check(md5(conf) == before_conf, 'upgrade: facteur.conf kept')
    check(os.path.exists(conf + '-opkg'),
          'upgrade: the package\'s version is facteur.conf-opkg')
    check([md5(os.path.join(ROOT, 'srv/facteur/state/dkim', k))
           for k in keys] == key_sums, 'upgrade: DKIM keys kept')
    if not check(daemons_up(), 'upgrade: the daemons run again'):
        return
    mail_survives('ipk', STATE['pw'])


def test_remove():
    r = chroot('/usr/lib/opkg/info/facteur.prerm remove')
    check(r.returncode == 0, 'prerm remove exits 0', r.stderr)
    deadline = time.time() + 10 * slow()
    while True:
        gone = True
        for p in PORTS:
            try:
                socket.create_connection(('127.0.0.1', p), timeout=1).close()
                gone = False
            except OSError:
                pass
        if gone or time.time() > deadline:
            break
        time.sleep(0.2)
    check(gone, 'prerm stops the daemons')
    check(os.path.exists(os.path.join(ROOT, 'srv/facteur/state/users.db')),
          'the users and mail stay after removal')


def stop_leftovers():
    """whatever a failed test left running"""
    if os.path.exists(os.path.join(ROOT, 'etc/rc.common')):
        chroot('/etc/init.d/facteur stop 2>/dev/null')



# ---- Synology DSM 7 -------------------------------------------------------

DSM = env.path('dsm')
PKGDIR = os.path.join(DSM, 'var/packages/facteur')
TARGET = os.path.join(DSM, 'volume1/@appstore/facteur')
VAR = os.path.join(DSM, 'volume1/@appdata/facteur')
SPK_USER = '_facteur_spktest'


def spk_account():
    """DSM creates the package's user: here a temporary system account
    (removed at the end) when root, else the caller"""
    if os.geteuid() == 0:
        subprocess.run(['useradd', '--system', '--user-group',
                        '--no-create-home', '--home-dir', '/nonexistent',
                        '--shell', '/usr/sbin/nologin', SPK_USER],
                       capture_output=True)
        import pwd  # pylint: disable=import-outside-toplevel
        pw = pwd.getpwnam(SPK_USER)
        return pw.pw_uid, pw.pw_gid
    return os.getuid(), os.getgid()


def dsm_run(script, status, version, msg=None, args=()):
    """scripts/NAME as the package user with DSM 7's environment"""
    uid, gid = STATE['spk_ids']
    e = {'PATH': '/usr/bin:/bin:/usr/sbin:/sbin', 'HOME': '/nonexistent',
         'SYNOPKG_PKGNAME': 'facteur', 'SYNOPKG_PKGVER': version,
         'SYNOPKG_PKGDEST': TARGET, 'SYNOPKG_PKGVAR': VAR,
         'SYNOPKG_PKGHOME': os.path.join(DSM, 'volume1/@apphome/facteur'),
         'SYNOPKG_PKG_STATUS': status, 'SYNOPKG_DSM_VERSION_MAJOR': '7',
         'SYNOPKG_DSM_VERSION_MINOR': '2',
         'SYNOPKG_TEMP_LOGFILE': msg or os.path.join(DSM, 'msg.log'),
         'wizard_domain': 'example.org', 'wizard_user': ALICE,
         'FACTEUR_SETUP_ARGS': '--listen 127.0.0.1 --ports ' +
         ','.join(map(str, PORTS))}
    kw = {}
    if os.geteuid() == 0:
        kw = {'user': uid, 'group': gid, 'extra_groups': []}
    # DSM makes the message file, writable by the package
    log = e['SYNOPKG_TEMP_LOGFILE']
    if not os.path.exists(log):
        open(log, 'w').close()
        os.chown(log, uid, gid)
    return subprocess.run([os.path.join(PKGDIR, 'scripts', script)] +
                          list(args), env=e, capture_output=True, text=True,
                          timeout=120, cwd='/', **kw)


def chown_tree(top):
    uid, gid = STATE['spk_ids']
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            os.lchown(os.path.join(d, n), uid, gid)
    os.lchown(top, uid, gid)


def spk_unpack(spk):
    """Package Center's unpacking: the spk's files to
    /var/packages/facteur, package.tgz to target/ (the user's)"""
    with tarfile.open(spk, 'r:') as t:
        t.extractall(PKGDIR)
    os.makedirs(TARGET, exist_ok=True)
    with tarfile.open(os.path.join(PKGDIR, 'package.tgz'), 'r:gz') as t:
        t.extractall(TARGET)
    os.unlink(os.path.join(PKGDIR, 'package.tgz'))
    if QEMU:
        exe = os.path.join(TARGET, 'bin/facteur')
        qemu_wrap(exe, exe, QEMU[0])
    os.makedirs(VAR, exist_ok=True)
    for link, to in (('target', TARGET), ('var', VAR)):
        if not os.path.islink(os.path.join(PKGDIR, link)):
            os.symlink(to, os.path.join(PKGDIR, link))
    chown_tree(TARGET)
    chown_tree(VAR)


def png_size(path):
    data = open(path, 'rb').read(24)
    return data[:8] == b'\x89PNG\r\n\x1a\n' and struct.unpack('>II', data[16:24])


def test_build_spk():
    # musl: one version, no upgrade (as for the ipk)
    for v in ('0.1-1',) if LIBC else ('0.1-1', '0.1-2'):
        r = make('spk', f'PKG_OUT={PKG}', f'PKG_VERSION={v}', *LIBC_ARGS)
        check(r.returncode == 0, f'make spk PKG_VERSION={v} {LIBC_ARGS}',
              r.stderr[-3000:])
    spk = os.path.join(PKG, 'facteur-0.1-1-x86_64.spk')
    STATE['spk'], STATE['spk2'] = spk, spk.replace('0.1-1', '0.1-2')
    head = open(spk, 'rb').read(512)
    check(head[257:262] == b'ustar', 'the spk is an uncompressed tar')
    with tarfile.open(spk, 'r:') as t:
        names = t.getnames()
        info = t.extractfile('INFO').read().decode()
        tgz = t.extractfile('package.tgz').read()
        priv = json.loads(t.extractfile('conf/privilege').read())
        json.loads(t.extractfile('conf/resource').read())
        wiz = json.loads(t.extractfile('WIZARD_UIFILES/install_uifile').read())
    for want in ('INFO', 'package.tgz', 'scripts/start-stop-status',
                 'scripts/postinst', 'scripts/preuninst', 'conf/privilege',
                 'conf/resource', 'PACKAGE_ICON.PNG', 'PACKAGE_ICON_256.PNG'):
        check(want in names, f'the spk has {want}', names)
    check(f'checksum="{hashlib.md5(tgz).hexdigest()}"' in info and
          'arch="x86_64"' in info and 'version="0.1-1"' in info and
          'os_min_ver="7.0-40000"' in info, 'INFO: version, arch, checksum',
          info)
    check(priv['defaults']['run-as'] == 'package', 'runs as the package user')
    keys = [s['key'] for s in wiz[0]['items'][0]['subitems']]
    check(keys == ['wizard_domain', 'wizard_user'], 'the wizard asks the '
          'domain and the address', keys)
    d = env.path('spk-x')
    os.makedirs(d)
    with tarfile.open(spk, 'r:') as t:
        t.extractall(d)
    check(png_size(os.path.join(d, 'PACKAGE_ICON.PNG')) == (64, 64) and
          png_size(os.path.join(d, 'PACKAGE_ICON_256.PNG')) == (256, 256),
          'icons are 64x64 and 256x256 PNGs')
    print(f'# measure: spk x86_64{" " + LIBC if LIBC else ""}: '
          f'{os.path.getsize(spk)} bytes', flush=True)


def daemon_uids():
    """uids of the running facteur daemons of this package"""
    out = set()
    for pid in os.listdir('/proc'):
        try:
            cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
            if TARGET.encode() in cmd:
                for line in open(f'/proc/{pid}/status', encoding='utf-8'):
                    if line.startswith('Uid:'):
                        out.add(int(line.split()[1]))
        except OSError:
            pass
    return out


SPK_LOG = os.path.join(VAR, 'facteur.log')


def spk_log():
    try:
        return open(SPK_LOG, encoding='utf-8', errors='replace').read()
    except OSError as e:
        return repr(e)


def spk_mail(marker):
    """submit on 465 and read back over IMAP; the daemons' log on
    failure (a crashing smtp role left 465 without TLS: issue 15)"""
    try:
        send(marker, STATE['spk_pw'])
        found, body = imap_subjects((ALICE, STATE['spk_pw']), marker)
    except (OSError, smtplib.SMTPException, imaplib.IMAP4.error) as e:
        found, body = [], repr(e).encode()
    return check(len(found) == 1 and b'DKIM-Signature:' in body,
                 f'spk: {marker} delivered, signed and read back over IMAP',
                 body[:300].decode(errors='replace') + '\n--- facteur.log:\n'
                 + spk_log()[-1500:])


def test_spk_install_start_stop():
    STATE['spk_ids'] = spk_account()
    start = time.time()
    spk_unpack(STATE['spk'])
    msg = os.path.join(DSM, 'msg.log')
    for s in ('preinst', 'postinst'):
        r = dsm_run(s, 'INSTALL', '0.1-1', msg)
        check(r.returncode == 0, f'{s} exits 0', r.stdout + r.stderr)
    text = open(msg, encoding='utf-8').read() if os.path.exists(msg) else ''
    m = re.search(r'password    (\S+)   \(shown only this once', text)
    if not check(m is not None, 'postinst leaves the password in '
                 'SYNOPKG_TEMP_LOGFILE for DSM to show', text):
        return
    STATE['spk_pw'] = m.group(1)
    conf = open(os.path.join(VAR, 'facteur.conf'), encoding='utf-8').read()
    check(f'state_dir = {VAR}/state' in conf and
          f'mail_dir  = {VAR}/mail/%d/%u' in conf, 'data under the package\'s '
          'var directory', conf)
    check('single_account = yes' in conf, 'single-account mode', conf)
    check(f'log       = {SPK_LOG}' in conf, 'logs to var/facteur.log', conf)
    check(f'psl = {TARGET}/share/public_suffix_list.dat' in conf,
          'DMARC uses the package\'s Public Suffix List', conf)
    check(os.path.exists(os.path.join(VAR, 'dns-records.txt')),
          'dns-records.txt kept for the user')
    r = dsm_run('start-stop-status', 'INSTALL', '0.1-1', args=['status'])
    check(r.returncode == 3, 'status before start: 3 (not running)',
          r.returncode)
    r = dsm_run('start-stop-status', '', '0.1-1', args=['start'])
    check(r.returncode == 0, 'start exits 0', r.stdout + r.stderr)
    r = dsm_run('start-stop-status', '', '0.1-1', args=['status'])
    check(r.returncode == 0, 'status after start: 0', r.stdout)
    check(daemon_uids() == {STATE['spk_ids'][0]},
          'every daemon runs as the package user', daemon_uids())
    r = dsm_run('start-stop-status', '', '0.1-1', args=['log'])
    check(r.stdout.strip() == SPK_LOG, 'the log action names var/facteur.log',
          r.stdout)
    if spk_mail('spk-first'):
        print(f'# measure: spk unpack to mail read back: '
              f'{time.time() - start:.2f} s', flush=True)
    check('smtpd[' in spk_log() and 'imapd[' in spk_log(),
          'the daemons log to var/facteur.log', spk_log()[-1500:])
    r = dsm_run('start-stop-status', '', '0.1-1', args=['stop'])
    check(r.returncode == 0, 'stop exits 0', r.stdout + r.stderr)
    r = dsm_run('start-stop-status', '', '0.1-1', args=['status'])
    check(r.returncode == 3, 'status after stop: 3', r.stdout)
    dsm_run('start-stop-status', '', '0.1-1', args=['start'])


def test_spk_upgrade():
    if 'spk_pw' not in STATE:
        check(False, 'spk upgrade: needs the first install')
        return
    conf = os.path.join(VAR, 'facteur.conf')
    before = {p: md5(p) for p in [conf] + [
        os.path.join(VAR, 'state/dkim', k)
        for k in os.listdir(os.path.join(VAR, 'state/dkim'))]}
    dsm_run('preupgrade', 'UPGRADE', '0.1-2')
    r = dsm_run('start-stop-status', 'UPGRADE', '0.1-1', args=['stop'])
    check(r.returncode == 0, 'upgrade: stop', r.stdout + r.stderr)
    for s in ('preuninst', 'postuninst'):
        dsm_run(s, 'UPGRADE', '0.1-1')
    shutil.rmtree(TARGET)
    spk_unpack(STATE['spk2'])
    msg = os.path.join(DSM, 'msg2.log')
    for s in ('preinst', 'postinst', 'postupgrade'):
        r = dsm_run(s, 'UPGRADE', '0.1-2', msg)
        check(r.returncode == 0, f'upgrade: {s} exits 0', r.stderr)
    check('password' not in open(msg, encoding='utf-8').read(),
          'upgrade: no second setup')
    check({p: md5(p) for p in before} == before,
          'upgrade: configuration and DKIM keys unchanged')
    r = dsm_run('start-stop-status', '', '0.1-2', args=['start'])
    check(r.returncode == 0, 'upgrade: start', r.stdout + r.stderr)
    found, _ = imap_subjects((ALICE, STATE['spk_pw']), 'spk-first')
    check(len(found) == 1, 'spk upgrade: the old mail and the password '
          'are kept', spk_log()[-1500:])
    spk_mail('spk-second')


def test_spk_uninstall():
    r = dsm_run('start-stop-status', 'UNINSTALL', '0.1-2', args=['stop'])
    check(r.returncode == 0, 'uninstall: stop', r.stdout + r.stderr)
    for s in ('preuninst', 'postuninst'):
        r = dsm_run(s, 'UNINSTALL', '0.1-2')
        check(r.returncode == 0, f'uninstall: {s} exits 0', r.stderr)
    check(not daemon_uids(), 'uninstall: no daemon left', daemon_uids())
    shutil.rmtree(TARGET)
    shutil.rmtree(VAR)


def stop_spk_leftovers():
    if os.path.isdir(TARGET) and 'spk_ids' in STATE:
        dsm_run('start-stop-status', '', '', args=['stop'])
    if os.geteuid() == 0:
        subprocess.run(['userdel', SPK_USER], capture_output=True)


# ---- cross: the ARM packages (make check's cross suite: armhf; make check
# CROSS=aarch64-linux-gnu- STATIC=1: arm64) ---------------------------------

# CROSS prefix: (ipk name, spk name, ELF class, e_machine, qemu)
CROSS_PKGS = {
    'arm-linux-gnueabihf-': ('arm_cortex-a7_neon-vfpv4', 'armv7', 1, 40,
                             ['qemu-arm', '-cpu', 'cortex-a7']),
    'aarch64-linux-gnu-': ('aarch64_cortex-a53', 'aarch64', 2, 183,
                           ['qemu-aarch64', '-cpu', 'cortex-a53']),
}


def elf_static(blob, elf_class, machine):
    """a little-endian ELF executable of that class (1: 32-bit, 2: 64-bit)
    and machine, without an interpreter (statically linked)"""
    if blob[:4] != b'\x7fELF' or blob[4] != elf_class or blob[5] != 1:
        return False
    if elf_class == 1:
        phoff, = struct.unpack_from('<I', blob, 28)
        phentsize, phnum = struct.unpack_from('<HH', blob, 42)
    else:
        phoff, = struct.unpack_from('<Q', blob, 32)
        phentsize, phnum = struct.unpack_from('<HH', blob, 54)
    for i in range(phnum):
        ptype, = struct.unpack_from('<I', blob, phoff + i * phentsize)
        if ptype == 3:                  # PT_INTERP: dynamically linked
            return False
    return struct.unpack_from('<H', blob, 18)[0] == machine


def test_cross_packages():
    cross = os.environ['FACTEUR_PKG_CROSS']
    ipk_arch, spk_arch, elf_class, machine, qemu = CROSS_PKGS[cross]
    # the C library named, so that the glibc runs stay glibc when the
    # musl libraries for that architecture are there too (the default)
    libc = f'PKG_LIBC={LIBC or "glibc"}'
    r = make('ipk', 'spk', f'CROSS={cross}', 'PKG_PROFILE=', f'PKG_OUT={PKG}',
             libc)
    if not check(r.returncode == 0, f'make ipk spk CROSS={cross} {libc}',
                 r.stdout[-1500:] + r.stderr[-3000:]):
        return
    ipk = os.path.join(PKG, f'facteur_0.1-1_{ipk_arch}.ipk')
    spk = os.path.join(PKG, f'facteur-0.1-1-{spk_arch}.spk')
    STATE['ipk'], STATE['spk'] = ipk, spk
    QEMU[:] = qemu
    if os.environ.get('FACTEUR_PKG_CROSS_INSTALL') == '1':
        # a second version for the upgrade tests: packing only
        r = make('ipk', 'spk', f'CROSS={cross}', 'PKG_PROFILE=',
                 f'PKG_OUT={PKG}', 'PKG_VERSION=0.1-2', libc)
        check(r.returncode == 0, 'the same packages as version 0.1-2',
              r.stderr[-2000:])
        STATE['ipk2'] = ipk.replace('0.1-1', '0.1-2')
        STATE['spk2'] = spk.replace('0.1-1', '0.1-2')
    members = dict(ipk_members(ipk))
    data = tar_of(members['data.tar.gz'])
    binary = data.extractfile('./usr/sbin/facteur').read()
    check(elf_static(binary, elf_class, machine),
          f'the ipk carries a static {spk_arch} executable')
    if LIBC:
        check(b'glibc.' not in binary and b'GLIBC_' not in binary,
              f'the {spk_arch} ipk carries the musl build, not glibc\'s')
    control = tar_of(members['control.tar.gz']).extractfile('./control')
    check(f'Architecture: {ipk_arch}'.encode() in control.read(),
          f'ipk architecture {ipk_arch}')
    with tarfile.open(spk, 'r:') as t:
        info = t.extractfile('INFO').read().decode()
        inner = tarfile.open(fileobj=t.extractfile('package.tgz'), mode='r:gz')
        check(elf_static(inner.extractfile('./bin/facteur').read(),
                         elf_class, machine),
              'the spk carries the same kind of executable')
    check(f'arch="{spk_arch} ' in info, f'spk INFO arch starts with {spk_arch}',
          info)
    sizes = (f'# measure: ipk {ipk_arch}{" " + LIBC if LIBC else ""}: '
             f'{os.path.getsize(ipk)} bytes, spk {spk_arch}: '
             f'{os.path.getsize(spk)} bytes')
    if os.environ.get('FACTEUR_PKG_CROSS_INSTALL') and CAN_CHROOT:
        # the install tests run the same setup from postinst (its RSA key
        # takes seconds of CPU under qemu: once is enough)
        print(sizes, flush=True)
        return
    # the packaged binary sets up a box under qemu-user, without a sysroot
    exe = env.path(f'facteur-{spk_arch}')
    with open(exe, 'wb') as f:
        f.write(binary)
    os.chmod(exe, 0o755)
    args = qemu + [exe, 'keytool', 'setup', 'example.org', '--dir',
                   env.path('armbox'), '--user', ALICE]
    if os.geteuid() == 0:
        args += ['--account', env.user]
    start = time.time()
    r = subprocess.run(args, input='armbox pw\n', capture_output=True, text=True,
                       timeout=300)
    took = time.time() - start
    dkim_dir = env.path('armbox', 'state', 'dkim')
    keys = os.listdir(dkim_dir) if os.path.isdir(dkim_dir) else []
    check(r.returncode == 0 and len(keys) == 2,
          f'the {spk_arch} keytool setup works under {qemu[0]}',
          r.stderr[-2000:])
    print(f'{sizes}; setup under {qemu[0]} {took:.1f} s', flush=True)


CAN_CHROOT = os.geteuid() == 0 and shutil.which('busybox')
if os.environ.get('FACTEUR_PKG_CROSS'):
    if os.environ.get('FACTEUR_PKG_CROSS_INSTALL') == 'ipk' and CAN_CHROOT:
        # make check's cross suite with the musl build: the ipk only,
        # installed, carrying mail and removed (no upgrade, no spk)
        ft.run_tests(env, [test_cross_packages, test_install_and_mail,
                           test_remove, stop_leftovers])
    if os.environ.get('FACTEUR_PKG_CROSS_INSTALL') and CAN_CHROOT:
        # the ARM ipk in the busybox root and the spk in the DSM tree, their
        # executable run under qemu-user
        ft.run_tests(env, [test_cross_packages, test_install_and_mail,
                           test_upgrade_keeps_everything, test_remove,
                           stop_leftovers, test_spk_install_start_stop,
                           test_spk_upgrade, test_spk_uninstall,
                           stop_spk_leftovers])
    ft.run_tests(env, [test_cross_packages])
if not CAN_CHROOT:
    print('# skipped: needs root (chroot) and busybox (busybox-static)')
    env.cleanup()
    sys.exit(ft.summary())
if LIBC:
    ft.run_tests(env, [test_build_ipk, test_install_and_mail, test_remove,
                       stop_leftovers, test_build_spk,
                       test_spk_install_start_stop, test_spk_uninstall,
                       stop_spk_leftovers])
ft.run_tests(env, [test_build_ipk, test_install_and_mail,
                   test_upgrade_keeps_everything, test_remove, stop_leftovers,
                   test_build_spk, test_spk_install_start_stop,
                   test_spk_upgrade, test_spk_uninstall, stop_spk_leftovers])
