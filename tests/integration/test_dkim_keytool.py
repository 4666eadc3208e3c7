#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_dkim_keytool.py - facteur-keytool dkim / dns / tls.

Runs the real facteur-keytool from $FACTEUR_BIN against a config in a temp
dir: key generation (modes, refusal to overwrite, --force, config paths),
the printed DNS records (the DKIM TXT verifies a signature with dkimpy),
tls selfsigned (checked with openssl), with a small DNS server on
127.0.0.1 (class DnsServer, also used by test_dkim_sign.py); the doctor has
its own test, test_doctor.py.  Prints "N passed, M failed".
"""
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading

QTYPES = {'A': 1, 'NS': 2, 'CNAME': 5, 'MX': 15, 'TXT': 16, 'AAAA': 28,
          'SRV': 33}


class DnsServer:
    """An authoritative-looking UDP DNS server for tests: answers from a
    dict, NXDOMAIN for unknown names, NOERROR/empty for unknown types."""

    def __init__(self, host='127.0.0.1', port=0):
        self.records = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        t = threading.Thread(target=self._serve, daemon=True)
        t.start()

    def clear(self):
        self.records = {}

    def add(self, name, qtype, rdata):
        key = (name.lower().rstrip('.'), QTYPES[qtype])
        self.records.setdefault(key, []).append(rdata)

    def txt(self, name, value):
        if isinstance(value, str):
            value = value.encode()
        rd = b''
        for i in range(0, max(len(value), 1), 255):
            chunk = value[i:i + 255]
            rd += bytes([len(chunk)]) + chunk
        self.add(name, 'TXT', rd)

    @staticmethod
    def _name(n):
        out = b''
        for label in n.rstrip('.').split('.'):
            out += bytes([len(label)]) + label.encode()
        return out + b'\0'

    def mx(self, name, pref, host):
        self.add(name, 'MX', struct.pack('>H', pref) + self._name(host))

    def a(self, name, ip):
        self.add(name, 'A', socket.inet_aton(ip))

    def _serve(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(4096)
                r = self._answer(q)
                if r:
                    self.sock.sendto(r, peer)
            except OSError:
                return

    def _answer(self, q):
        if len(q) < 12:
            return None
        qid, flags = struct.unpack('>HH', q[:4])
        i, labels = 12, []
        while i < len(q) and q[i] != 0:
            labels.append(q[i + 1:i + 1 + q[i]].decode('ascii', 'replace'))
            i += 1 + q[i]
        qtype, _qclass = struct.unpack('>HH', q[i + 1:i + 5])
        question = q[12:i + 5]
        name = '.'.join(labels).lower()
        self.queries.append((name, qtype))
        answers = self.records.get((name, qtype), [])
        exists = any(k[0] == name for k in self.records)
        rcode = 0 if exists else 3
        hdr = struct.pack('>HHHHHH', qid, 0x8400 | (flags & 0x0100) | 0x80 | rcode,
                          1, len(answers), 0, 0)
        out = hdr + question
        for rd in answers:
            out += struct.pack('>HHHIH', 0xc00c, qtype, 1, 60, len(rd)) + rd
        return out


class Runner:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=''):
        if cond:
            self.passed += 1
            print('ok   ' + what)
        else:
            self.failed += 1
            print('FAIL ' + what + (('\n     ' + detail) if detail else ''))
        return cond

    def done(self):
        print('%d passed, %d failed' % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)


def keytool(binpath, conf, *args, stdin=None):
    p = subprocess.run([os.path.join(binpath, 'facteur-keytool'), '-c', conf]
                       + list(args), input=stdin, capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def write_conf(d, extra_dkim='', relay='', resolver=None, tls=True,
               pop3=False, backup='', base=2000, listen=None):
    """base: the listen ports are base + the standard ones (2525, 2587,
    ...: a box behind a port forward), or the standard ones (base 0), on
    the wildcard address (keytool does not bind); listen: {'section.key':
    [addresses]} instead, e.g. {'imap.listen': ['127.0.0.1:143']}"""
    listen = listen or {}

    def addrs(key, port):
        return [f'{key.split(".")[1]} = {a}'
                for a in listen.get(key, [f'0.0.0.0:{port}'])]
    conf = os.path.join(d, 'facteur.conf')
    lines = [
        'hostname = mail.example.org',
        'domains = example.org',
        'state_dir = %s/state' % d,
        'mail_dir = %s/mail/%%d/%%u' % d,
        'run_dir = %s/run' % d,
        'user = nobody',
        'log = stderr',
    ]
    if tls:
        lines += ['[tls]', 'cert = %s/tls/fullchain.pem' % d,
                  'key = %s/tls/privkey.pem' % d]
    lines += (['[smtp]'] + addrs('smtp.listen', base + 525 if base else 25)
              + addrs('smtp.submission', base + 587)
              + addrs('smtp.submissions', base + 465))
    if backup:
        lines += ['backup_domains = %s' % backup]
    lines += ['[imap]'] + addrs('imap.listen', base + 993)
    if 'imap.listen_starttls' in listen:
        lines += addrs('imap.listen_starttls', 0)
    if pop3:
        lines += (['[pop3]'] + addrs('pop3.listen', base + 995) +
                  addrs('pop3.listen_starttls', base + 110))
    if relay:
        lines += ['[relay]', 'host = %s' % relay, 'port = 587',
                  'user = me@example.net',
                  'password_file = %s/relay.secret' % d]
    if extra_dkim:
        lines += ['[dkim]'] + extra_dkim.strip().split('\n')
    if resolver:
        lines += ['[dns]', 'resolver = %s' % resolver]
    for sub in ('state', 'run', 'tls'):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(conf, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return conf


def dkim_txt_from_dns_output(out, selector):
    """The single-string TXT value of selector from `keytool dns` output."""
    for line in out.splitlines():
        m = re.match(r'^%s\._domainkey\.\S+\s+.*TXT\s+"(v=DKIM1;[^"]*)"\s*$'
                     % re.escape(selector), line)
        if m and '" "' not in line:
            return m.group(1)
    return None


def test_dkim_generate(r, binpath, d):
    conf = write_conf(d, extra_dkim='sign = example.org ed2026 %s/keys/ed.key' % d)
    os.makedirs(os.path.join(d, 'keys'), exist_ok=True)
    rc, out, err = keytool(binpath, conf, 'dkim', 'generate', 'example.org',
                           'rsa2026', '--rsa')
    rsa = os.path.join(d, 'state', 'dkim', 'example.org.rsa2026.key')
    r.check(rc == 0, 'dkim generate --rsa exits 0', err)
    r.check(os.path.exists(rsa), 'rsa key at state_dir/dkim/DOMAIN.SELECTOR.key')
    if os.path.exists(rsa):
        st = os.stat(rsa)
        r.check(stat.S_IMODE(st.st_mode) == 0o600, 'rsa key mode 0600',
                oct(st.st_mode))
        p = subprocess.run(['openssl', 'pkey', '-in', rsa, '-noout', '-text'],
                           capture_output=True, text=True)
        r.check('2048 bit' in p.stdout, 'rsa key is 2048 bits')
    r.check('sign = example.org rsa2026 ' + rsa in out,
            'generate prints the [dkim] sign line', out)
    # run before the first start, generate creates state_dir itself: it
    # must stay enterable by every daemon (issue 13), only dkim/ is 0700
    fresh = os.path.join(d, 'fresh')
    conf2 = os.path.join(d, 'fresh.conf')
    with open(conf) as f:
        text = f.read().replace(os.path.join(d, 'state'), os.path.join(fresh, 'state'))
    with open(conf2, 'w') as f:
        f.write(text)
    rc, out2, err2 = keytool(binpath, conf2, 'dkim', 'generate', 'example.org',
                             'rsa2026', '--rsa')
    modes = {}
    for sub in ('', 'state', 'state/dkim'):
        path = os.path.join(fresh, sub)
        if os.path.isdir(path):
            modes[sub] = stat.S_IMODE(os.stat(path).st_mode)
    r.check(rc == 0 and modes.get('state') == 0o755 and
            modes.get('state/dkim') == 0o700,
            'generate before the first start: state_dir 0755, dkim/ 0700',
            '%r %s' % (modes, err2))
    r.check('rsa2026._domainkey.example.org' in out and 'k=rsa' in out,
            'generate prints the DNS record', out)
    rc, out, err = keytool(binpath, conf, 'dkim', 'generate', 'example.org',
                           'rsa2026', '--rsa')
    r.check(rc == 1 and '--force' in err, 'refuses to overwrite without --force',
            'rc=%d %s' % (rc, err))
    before = open(rsa).read() if os.path.exists(rsa) else ''
    rc, out, err = keytool(binpath, conf, 'dkim', 'generate', 'example.org',
                           'rsa2026', '--rsa', '--force')
    r.check(rc == 0 and os.path.exists(rsa) and open(rsa).read() != before,
            'overwrites with --force', err)
    # the config names the ed25519 key's path
    rc, out, err = keytool(binpath, conf, 'dkim', 'generate', 'example.org',
                           'ed2026', '--ed25519')
    ed = os.path.join(d, 'keys', 'ed.key')
    r.check(rc == 0 and os.path.exists(ed), 'ed25519 key at the configured path',
            err)
    if os.path.exists(ed):
        r.check(stat.S_IMODE(os.stat(ed).st_mode) == 0o600, 'ed25519 key mode 0600')
    r.check('k=ed25519' in out and 'already' in out,
            'ed25519: record printed, sign line noted as configured', out)
    rc, out, err = keytool(binpath, conf, 'dkim', 'generate', 'exa/mple.org', 's')
    r.check(rc in (1, 2), 'rejects a domain with a slash', 'rc=%d' % rc)
    rc, out, err = keytool(binpath, conf, 'dkim', 'generate', 'example.org')
    r.check(rc == 2, 'missing selector is a usage error', 'rc=%d' % rc)
    rc, out, err = keytool(binpath, conf, 'dkim', 'generate', 'example.org',
                           's1', '--rsa', '--ed25519')
    r.check(rc == 2, '--rsa with --ed25519 is a usage error', 'rc=%d' % rc)
    return rsa, ed


def test_dns(r, binpath, d, rsa, ed):
    dk = 'sign = example.org rsa2026 %s\nsign = example.org ed2026 %s' % (rsa, ed)
    conf = write_conf(d, extra_dkim=dk)
    rc, out, err = keytool(binpath, conf, 'dns')
    r.check(rc == 0, 'dns exits 0', err)
    r.check(re.search(r'^example\.org\.\s+.*MX\s+10 mail\.example\.org\.', out, re.M)
            is not None, 'dns: MX record', out)
    r.check(re.search(r'^mail\.example\.org\.\s+.*\bA\b', out, re.M) is not None
            and 'AAAA' in out, 'dns: A record and AAAA note')
    r.check(re.search(r'"v=spf1 mx -all"', out) is not None, 'dns: SPF without relay')
    r.check('_dmarc.example.org.' in out and
            'v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org' in out,
            'dns: DMARC')
    # listening on 2587 etc. behind a port forward: the records name the
    # public standard ports (RFC 6186, RFC 8314), a comment the forwards
    r.check(re.search(r'_submission\._tcp\.example\.org\.\s+.*SRV\s+0 1 587 '
                      r'mail\.example\.org\.', out) is not None,
            'dns: submission SRV on the standard port 587', out)
    r.check(re.search(r'_submissions\._tcp\.example\.org\.\s+.*SRV\s+0 1 465 ', out)
            is not None, 'dns: submissions SRV on 465')
    r.check(re.search(r'_imaps\._tcp\.example\.org\.\s+.*SRV\s+0 1 993 ', out)
            is not None, 'dns: imaps SRV on 993')
    r.check(re.search(r'_imap\._tcp\.example\.org\.\s+.*SRV\s+0 0 0 \.$', out,
                      re.M) is not None, 'dns: imap (STARTTLS) not offered')
    r.check(re.search(r'^;\s+25 -> 2525, 587 -> 2587, 465 -> 2465, '
                      r'993 -> 2993$', out, re.M) is not None,
            'dns: the port forwards to make are listed', out[:1200])
    r.check('<clientConfig version="1.1">' in out and
            '<incomingServer type="imap">' in out, 'dns: autoconfig XML')
    ports = re.findall(r'<port>(\d+)</port>', out)
    r.check(ports == ['993', '465', '587'],
            'dns: autoconfig names 993, 465, 587', str(ports))
    rtxt = dkim_txt_from_dns_output(out, 'rsa2026')
    etxt = dkim_txt_from_dns_output(out, 'ed2026')
    r.check(rtxt is not None and 'k=rsa' in rtxt, 'dns: rsa DKIM TXT one string', out)
    r.check(etxt is not None and 'k=ed25519' in etxt, 'dns: ed25519 DKIM TXT')
    split = [l for l in out.splitlines()
             if l.startswith('rsa2026._domainkey') and '" "' in l]
    parts = []
    if r.check(len(split) == 1, 'dns: long rsa TXT also as split zone line'):
        parts = re.findall(r'"([^"]*)"', split[0])
        r.check(all(len(p) <= 255 for p in parts) and ''.join(parts) == rtxt,
                'dns: split strings <= 255 bytes and join to the value')
    r.check('_pop3s._tcp' not in out and 'type="pop3"' not in out,
            'dns: no POP3 records without [pop3]')
    conf3 = write_conf(d, extra_dkim=dk, pop3=True, backup='friend.example')
    rc, out3, err = keytool(binpath, conf3, 'dns')
    r.check(rc == 0 and re.search(r'_pop3s\._tcp\.example\.org\.\s+.*SRV\s+0 1 '
                                  r'995 mail\.example\.org\.', out3) and
            re.search(r'_pop3\._tcp\.example\.org\.\s+.*SRV\s+0 1 110 ', out3)
            and '<incomingServer type="pop3">' in out3 and
            '<port>995</port>' in out3 and '995 -> 2995, 110 -> 2110' in out3,
            'dns: POP3 SRV and autoconfig on 995 and 110', out3)
    conf4 = write_conf(d, extra_dkim=dk, pop3=True, base=0)
    rc, out4, err = keytool(binpath, conf4, 'dns')
    r.check(rc == 0 and re.search(r'_submission\._tcp\.example\.org\.\s+.*SRV'
                                  r'\s+0 1 587 ', out4) and
            re.search(r'_pop3\._tcp\.example\.org\.\s+.*SRV\s+0 1 110 ', out4)
            and ' -> ' not in out4 and 'forward' not in out4,
            'dns: on the standard ports, no forwards to make', out4[:1200])
    test_dns_loopback(r, binpath, d, dk)
    r.check(re.search(r'^friend\.example\.\s+IN MX\s+20 mail\.example\.org\.',
                      out3, re.M) and '_dmarc.friend.example' not in out3,
            'dns: a backed-up domain gets our MX at a worse preference only',
            out3[-800:])
    # with a relay: the relay appears in SPF
    conf2 = write_conf(d, extra_dkim=dk, relay='smtp.provider.example')
    rc, out2, err = keytool(binpath, conf2, 'dns')
    r.check(rc == 0 and re.search(r'"v=spf1 mx include:provider\.example ~all"',
                                  out2) is not None, 'dns: SPF includes relay', out2)
    return rtxt, etxt, parts


def srv_target(out, service):
    """'0 1 993 mail.example.org.' of _service._tcp.example.org, or None"""
    m = re.search(r'^_%s\._tcp\.example\.org\.\s+IN SRV\s+(.*)$' % service,
                  out, re.M)
    return m.group(1) if m else None


def test_dns_loopback(r, binpath, d, dk):
    """A service on loopback only (IMAP for a webmail on the box) is not
    offered to other machines; loopback and public together is."""
    conf = write_conf(d, extra_dkim=dk, pop3=True, listen={
        # a webmail on this box: IMAP on loopback only
        'imap.listen': ['127.0.0.1:993', '[::1]:2993'],
        'imap.listen_starttls': ['127.0.0.1:143'],
        # loopback and a LAN address: offered, forwarded to the LAN one
        'smtp.submission': ['127.0.0.1:587', '192.168.1.2:2587'],
        'smtp.submissions': ['localhost:2465'],
        'pop3.listen': ['[::]:2995'],
        'pop3.listen_starttls': ['[::ffff:127.0.0.1]:2110']})
    rc, out, err = keytool(binpath, conf, 'dns')
    r.check(rc == 0, 'dns (loopback): exits 0', err)
    got = {s: srv_target(out, s) for s in ('submission', 'submissions',
                                           'imaps', 'imap', 'pop3s', 'pop3')}
    r.check(got == {'submission': '0 1 587 mail.example.org.',
                    'submissions': '0 0 0 .', 'imaps': '0 0 0 .',
                    'imap': '0 0 0 .', 'pop3s': '0 1 995 mail.example.org.',
                    'pop3': '0 0 0 .'},
            'dns: services on loopback only get "0 0 0 ." (not offered), '
            'loopback and public together is offered', str(got))
    r.check(re.search(r'^;\s+25 -> 2525, 587 -> 2587, 995 -> 2995$', out,
                      re.M) is not None,
            'dns: forwards only for offered services, to the public '
            'address\'s port', out[:1200])
    servers = re.findall(r'<(incoming|outgoing)Server type="(\w+)">\s*'
                         r'<hostname>[^<]*</hostname>\s*<port>(\d+)</port>',
                         out)
    r.check(servers == [('incoming', 'pop3', '995'),
                        ('outgoing', 'smtp', '587')],
            'dns: autoconfig leaves out the loopback-only services', str(servers))
    conf = write_conf(d, extra_dkim=dk, listen={
        'smtp.listen': ['127.0.0.1:25'],
        'smtp.submission': ['127.0.0.1:2587'],
        'smtp.submissions': ['[::1]:2465'],
        'imap.listen': ['127.0.0.2:2993']})
    rc, out, err = keytool(binpath, conf, 'dns')
    r.check(rc == 0 and ' -> ' not in out and '<clientConfig' not in out and
            'autoconfig: none' in out and
            all(srv_target(out, s) == '0 0 0 .'
                for s in ('submission', 'submissions', 'imaps', 'imap')),
            'dns: everything on loopback: nothing offered, no forwards, '
            'no autoconfig file', out[-1500:])


def test_verify_with_dns_txt(r, binpath, rsa, ed, rtxt, etxt, split_parts):
    """A message signed with the generated keys (lib/dkim.c + authd_dkim.c
    via dkim_sign_tool) verifies with dkimpy given the TXT `dns` printed."""
    tool = os.path.normpath(os.path.join(binpath, '..', 'test', 'dkim_sign_tool'))
    if not os.access(tool, os.X_OK):
        r.check(False, 'dkim_sign_tool at ' + tool)
        return
    import dkim
    msg = (b'From: Alice <alice@example.org>\nTo: bob@example.net\n'
           b'Subject: keytool keys\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n'
           b'Message-ID: <k@example.org>\n\nHello\n')
    p = subprocess.run([tool, 'sign', 'example.org:rsa2026:' + rsa,
                        'example.org:ed2026:' + ed], input=msg,
                       capture_output=True)
    if not r.check(p.returncode == 0, 'sign with the generated keys',
                   p.stderr.decode()):
        return
    wire = p.stdout.replace(b'\n', b'\r\n')
    for label, records in (('one string', {'rsa2026': rtxt, 'ed2026': etxt}),
                           ('split strings', {'rsa2026': ''.join(split_parts),
                                              'ed2026': etxt})):
        def dnsfunc(name, timeout=5, records=records):
            sel = name.decode().split('.')[0]
            v = records.get(sel)
            return v.encode() if v else None
        r.check(dkim.DKIM(wire).verify(idx=0, dnsfunc=dnsfunc),
                'rsa-sha256 verifies against the dns TXT (%s)' % label)
        r.check(dkim.DKIM(wire).verify(idx=1, dnsfunc=dnsfunc),
                'ed25519-sha256 verifies against the dns TXT (%s)' % label)


def test_tls(r, binpath, d):
    conf = write_conf(d)
    cert = os.path.join(d, 'tls', 'fullchain.pem')
    key = os.path.join(d, 'tls', 'privkey.pem')
    rc, out, err = keytool(binpath, conf, 'tls', 'selfsigned')
    r.check(rc == 0 and os.path.exists(cert) and os.path.exists(key),
            'tls selfsigned writes cert and key', err)
    if not os.path.exists(key):
        return
    r.check(stat.S_IMODE(os.stat(key).st_mode) == 0o600, 'tls key mode 0600')
    p = subprocess.run(['openssl', 'x509', '-in', cert, '-noout', '-text',
                        '-checkhost', 'mail.example.org'], capture_output=True,
                       text=True)
    r.check('DNS:mail.example.org' in p.stdout, 'cert SAN = hostname', p.stdout)
    r.check('does match certificate' in p.stdout, 'openssl checkhost matches')
    r.check('TLS Web Server Authentication' in p.stdout, 'cert EKU serverAuth')
    m1 = subprocess.run(['openssl', 'x509', '-in', cert, '-noout', '-pubkey'],
                        capture_output=True, text=True).stdout
    m2 = subprocess.run(['openssl', 'pkey', '-in', key, '-pubout'],
                        capture_output=True, text=True).stdout
    r.check(m1 and m1 == m2, 'cert matches key')
    rc, out, err = keytool(binpath, conf, 'tls', 'selfsigned')
    r.check(rc == 1 and '--force' in err, 'tls refuses overwrite without --force')
    rc, out, err = keytool(binpath, conf, 'tls', 'selfsigned', '--force')
    r.check(rc == 0, 'tls selfsigned --force', err)
    r.check('until a reload' in out,
            'tls selfsigned says the running daemons need a reload', out)


def main():
    binpath = os.environ.get('FACTEUR_BIN', 'build/bin')
    r = Runner()
    if not os.path.exists(os.path.join(binpath, 'facteur-keytool')):
        r.check(False, 'facteur-keytool exists in ' + binpath)
        r.done()
    with tempfile.TemporaryDirectory() as d:
        rsa, ed = test_dkim_generate(r, binpath, d)
        rtxt, etxt, parts = test_dns(r, binpath, d, rsa, ed)
        test_verify_with_dns_txt(r, binpath, rsa, ed, rtxt, etxt, parts)
        test_tls(r, binpath, d)
    r.done()


if __name__ == '__main__':
    main()
