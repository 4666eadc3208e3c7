# SPDX-License-Identifier: ISC
"""test_doctor - `facteur-keytool doctor` against one test zone per pitfall
(issue 13), served by dns_server.DNSServer on loopback, plus clean zones
that must give nothing but OK.

Every case is its own domain CASE.test with hostname mail.CASE.test and its
own public address 192.0.2.N (answered by the "what is my address" query,
[doctor] myip = myip.CASE.test@127.0.0.1:PORT).  The far ends are real:
python3-aiosmtpd as the smarthost (STARTTLS with a certificate from a test
CA, AUTH), as the outside MX of the port-25 probe, and as a port 25 that
refuses postmaster@; a silent listener stands in for a blocked port 25;
facteur-smtpd itself answers postmaster@ in one case.  Certificates come
from a test PKI made here (python3-cryptography): a trusted root and
intermediate, an unknown one, a leaf without its intermediate, an expired
leaf, one for another name; `facteur-keytool tls selfsigned` makes the
self-signed one.

Each case checks its FAIL/WARN line and the fix printed on it (the record
in the form a DNS panel takes: relative owner, unquoted value, and the
zone-file form); for SPF the fixed record is then published and the doctor
run again must say OK (the printed SPF evaluates to pass).  The doctors run
in parallel; timeouts are 1 s.
"""

import base64
import concurrent.futures
import datetime
import ipaddress
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
import relay_fixtures as rf  # noqa: E402
from dns_server import DNSServer, free_udp_tcp_port  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID  # noqa: E402

env = ft.Env()
rf.new_loop()
T0 = time.time()
KEYTOOL = os.path.join(ft.BIN, 'facteur-keytool')
PKI = env.path('pki')
os.mkdir(PKI)
dns = DNSServer(free_udp_tcp_port()).start()

# ---------------------------------------------------------------------------
# test PKI

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
EC = ec.generate_private_key(ec.SECP256R1())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def cert(subject, issuer=None, ca=False, sans=(), aia=False, before=None,
         after=None):
    """(certificate, key): issuer is a (cert, key) pair, None: self-signed."""
    key = ec.generate_private_key(ec.SECP256R1()) if ca else EC
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (x509.CertificateBuilder()
         .subject_name(name)
         .issuer_name(issuer[0].subject if issuer else name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(before or NOW - DAY)
         .not_valid_after(after or NOW + 90 * DAY)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(s) for s in sans]), critical=False)
    if aia:
        b = b.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier('http://ca.test/inter.der'))]),
            critical=False)
    c = b.sign(issuer[1] if issuer else key, hashes.SHA256())
    return c, key


def write(name, data, mode=0o644):
    p = os.path.join(PKI, name)
    with open(p, 'wb') as f:
        f.write(data)
    os.chmod(p, mode)
    return p


CASES = {}          # name -> dict(conf options, expectations)


def case(name, **kw):
    CASES[name] = kw
    return kw


# ---------------------------------------------------------------------------
# the cases: name -> what differs from a clean set-up, and what to expect

case('clean', acme='www')
# [sendmail] sender lines: an address that reaches nobody (its bounces
# are lost), an account that does not exist
case('senders', senders=True,
     expect=[('WARN', r'\[sendmail\] sender nas@senders\.test \(account '
              r'root\) reaches no mailbox: bounces and replies to its mail '
              r'are lost', r'alias add nas@senders\.test YOUR-ADDRESS'),
             ('OK', r'\[sendmail\] sender alice@senders\.test \(account '
              r'root\) reaches a mailbox', None),
             ('WARN', r'\[sendmail\] sender nosuchacct7: no such system '
              r'account', r'the line is never used')])
# [acme] webroot that does not exist: `acme renew` would fail at the CA
case('acmewebroot', acme='nowww',
     expect=[('FAIL', r'ACME webroot .*/nowww: No such file or directory',
              r'set \[acme\] webroot \(\S*/acmewebroot/facteur\.conf:'
              r'[1-9]\d*\) to the document root')])
case('relayclean', relay='smtp.provider.test', spf='PRINTED')
case('spfnone', spf=None,
     expect=[('FAIL', r'SPF spfnone\.test: no v=spf1 record',
              r'publish: name @, type TXT, value v=spf1 mx -all '
              r'\(zone file: spfnone\.test\. IN TXT "v=spf1 mx -all"\)')],
     refix=True)
case('spffail', spf='v=spf1 ip4:198.51.100.1 -all',
     expect=[('FAIL', r'gets fail by -all',
              r'value v=spf1 ip4:198\.51\.100\.1 mx -all ')], refix=True)
case('spfinclude', spf='v=spf1 include:gone.test mx -all',
     expect=[('FAIL', r'gets permerror: included domain gone\.test has no '
              r'SPF', r'value v=spf1 mx -all ')], refix=True)
case('spfinclude2', spf='v=spf1 mx include:gone.test -all',
     expect=[('FAIL', r'an address it does not list gets permerror: '
              r'included domain gone\.test has no SPF',
              r'value v=spf1 mx -all ')], refix=True)
case('spflookups',
     spf='v=spf1 ' + ' '.join(f'include:l{i}.spflookups.test'
                              for i in range(11)) + ' mx -all',
     expect=[('FAIL', r'permerror: more than 10 DNS lookups',
              r'value v=spf1 mx -all ')], refix=True)
# what `keytool dns` printed for relay set-ups before it evaluated it
case('relaynospf', relay='smtp.nospf.test',
     spf='v=spf1 mx include:nospf.test ~all',
     expect=[('FAIL', r'127\.0\.0\.1 \(the smarthost smtp\.nospf\.test\) '
              r'gets permerror: included domain nospf\.test has no SPF',
              r'value v=spf1 mx a:smtp\.nospf\.test ~all ')], refix=True)
case('relayauth', relay='smtp.provider.test', password='wrong-password',
     expect=[('FAIL', r'relay smtp\.provider\.test:\d+: AUTH refused: 535',
              r'check \[relay\] user \(me@example\.net\) and the password')])
case('relayimplicit', relay='smtp.provider.test', relay_tls='implicit',
     spf='PRINTED',
     expect=[('OK', r'relay smtp\.provider\.test:\d+: EHLO, TLS \(TLSv1\.'
              r'[23] .*\), AUTH PLAIN as me@example\.net accepted \(235',
              None)])
case('relaybadca', relay='smtp.provider.test', relay_ca='unknown',
     spf='PRINTED',
     expect=[('FAIL', r'relay smtp\.provider\.test:\d+: STARTTLS: TLS: the '
              r"server's certificate does not verify",
              r'set \[relay\] ca_file to the CA that issued it')])
case('dkimquotes', dkim='quotes',
     expect=[('FAIL', r'DKIM sel\._domainkey\.dkimquotes\.test: the panel '
              r'kept the quotes', r'publish: name sel\._domainkey, type TXT, '
              r'value v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+ \(zone file: '
              r'sel\._domainkey\.dkimquotes\.test\. IN TXT "v=DKIM1; k=rsa; '
              r'p=[A-Za-z0-9+/=]+" "[A-Za-z0-9+/=]+"\)')])
case('dkimbackslash', dkim='backslash',
     expect=[('FAIL', r'the panel added backslashes',
              r'publish: name sel\._domainkey, type TXT, value v=DKIM1; ')])
case('dkimtrunc', dkim='truncated',
     expect=[('FAIL', r'the panel truncated it at 255 bytes',
              r'publish: name sel\._domainkey, type TXT, value v=DKIM1; ')])
case('dkim1024', dkim='rsa1024',
     expect=[('FAIL', r'is RSA 1024 bits', r'facteur-keytool dkim generate '
              r'dkim1024\.test NEWSELECTOR')])
case('mxcname', mx=[(10, 'mx.mxcname.test')],
     extra=[('mx.mxcname.test', 'CNAME', 'mail.mxcname.test.')],
     expect=[('FAIL', r'mx\.mxcname\.test is a CNAME \(to mail\.mxcname\.'
              r'test\)', r'point the MX at mail\.mxcname\.test')])
case('mxbackup', mx=[(10, 'mail.mxbackup.test'), (10, 'backup.other.test')],
     extra=[('backup.other.test', 'A', '198.51.100.7')],
     expect=[('WARN', r'the backup MX backup\.other\.test has priority 10,'
              r' the same as ours \(10\)', r'publish: name @, type '
              r'MX, value 10 mail\.mxbackup\.test\.')])
case('mxbetter', mx=[(20, 'mail.mxbetter.test'), (10, 'backup.other.test')],
     expect=[('WARN', r'has priority 10, better than ours \(20\)',
              r'MX 20 backup\.other\.test')])
# [smtp] backup_domains: the backed-up domain lists us behind its primary
case('bkok', backup=[(10, 'mx.friend.test'), (20, 'HOST')],
     expect=[('OK', r'MX bkok-friend\.test \(backed up here\): '
              r'(?=.*mx\.bkok-friend\.test \(10\))(?=.*mail\.bkok\.test '
              r'\(20\))', None)])
case('bkfirst', backup=[(10, 'HOST'), (20, 'mx.friend.test')],
     expect=[('FAIL', r'its primary mx\.bkfirst-friend\.test has priority 20, '
              r'worse than ours \(10\)', r'publish: name @, type MX, value '
              r'20 mail\.bkfirst\.test\. \(zone file: bkfirst-friend\.test\.')])
case('bkonly', backup=[(20, 'HOST')],
     expect=[('FAIL', r'this server is its only MX', None)])
case('bknone', backup=[(10, 'mx.friend.test')],
     expect=[('FAIL', r'none of them this server', r'value 20 mail\.'
              r'bknone\.test\.')])
case('mxservice', mx=[(10, 'smtp.mxservice.test')], spf='v=spf1 mx -all',
     extra=[('smtp.mxservice.test', 'A', 'IP')],
     expect=[('OK', r'MX mxservice\.test: smtp\.mxservice\.test \(10\)$',
              None)])
case('ptrnone', ptr=None,
     expect=[('FAIL', r'PTR 192\.0\.2\.\d+: no such name',
              r'set its reverse DNS to mail\.ptrnone\.test')])
case('ptrnofwd', ptr='host.isp.test.',
     expect=[('FAIL', r'host\.isp\.test, which does not resolve back',
              r'publish: host\.isp\.test\. IN A 192\.0\.2\.\d+')])
case('helo', ptr='dyn.isp2.test.',
     extra=[('dyn.isp2.test', 'A', 'IP')],
     expect=[('WARN', r'PTR 192\.0\.2\.\d+: dyn\.isp2\.test, but the server '
              r'says HELO mail\.helo\.test', r'reverse DNS set to '
              r'mail\.helo\.test, or set hostname = dyn\.isp2\.test')])
case('certunknown', tls='unknown',
     expect=[('FAIL', r'TLS chain: unknown CA: the chain ends at '
              r'/CN=Unknown Root', r'get a certificate from a public CA')])
case('certnointer', tls='nointer',
     expect=[('FAIL', r'the intermediate certificate is missing',
              r'put the whole chain in \[tls\] cert')])
case('certself', tls='selfsigned',
     expect=[('WARN', r'TLS certificate is self-signed',
              r'get one from a public CA')])
case('certexpired', tls='expired',
     expect=[('FAIL', r'TLS certificate has expired', r'renew it')])
case('certname', tls='wrongname',
     expect=[('FAIL', r'TLS certificate does not cover mail\.certname\.test',
              r'get one for that name')])
case('dynip', a='192.0.2.250',
     expect=[('FAIL', r'A mail\.dynip\.test: 192\.0\.2\.250, but this '
              r"server's public address is 192\.0\.2\.\d+",
              r'publish: name mail, type A, value 192\.0\.2\.\d+ \(zone file:'
              r' mail\.dynip\.test\. IN A 192\.0\.2\.\d+\)')])
# IPv6: [doctor] myip6 answers 2001:db8::N; hostname has the AAAA, PTR
case('v6clean', v6=True)
case('v6dyn', v6=True, aaaa='2001:db8::250',
     expect=[('FAIL', r'AAAA mail\.v6dyn\.test: 2001:db8::250, but this '
              r"server's public IPv6 address is 2001:db8::\d+ \(a dynamic "
              r'prefix that changed\?\)',
              r'publish: name mail, type AAAA, value 2001:db8::\d+ \(zone '
              r'file: mail\.v6dyn\.test\. IN AAAA 2001:db8::\d+\)')])
case('v6noaaaa', v6=True, aaaa=None,
     expect=[('WARN', r'AAAA mail\.v6noaaaa\.test: none, but this server '
              r'has the public IPv6 address 2001:db8::\d+, and mail it sends'
              r' over IPv6 fails SPF', r'publish: name mail, type AAAA, '
              r'value 2001:db8::\d+ '),
             ('FAIL', r'PTR 2001:db8::\d+: mail\.v6noaaaa\.test, which does '
              r'not resolve back', r'publish: mail\.v6noaaaa\.test\. IN AAAA'
              r' 2001:db8::\d+'),
             ('FAIL', r'SPF v6noaaaa\.test: "v=spf1 mx -all": 2001:db8::\d+ '
              r'\(this server\) gets fail', r'value v=spf1 mx ip6:2001:db8::'
              r'\d+ -all ')])
case('v6ptr', v6=True, ptr6=None,
     expect=[('FAIL', r'PTR 2001:db8::\d+: no such name',
              r'set its reverse DNS to mail\.v6ptr\.test')])
case('dnsbl', listed=True,
     expect=[('FAIL', r'DNSBL bl\.test lists 192\.0\.2\.\d+ \(127\.0\.0\.2\)',
              r'send through a smarthost')])
case('port25', probe='silent',
     expect=[('FAIL', r'outbound port \d+: cannot reach 127\.0\.0\.1:\d+',
              r'add a \[relay\] section')])
case('probedns', probe='unresolvable',
     expect=[('WARN', r'outbound port 25: cannot check it: nowhere\.test: '
              r'no such name', r'set \[doctor\] probe')])
case('pmrefused', smtp='refusing',
     expect=[('FAIL', r'postmaster@pmrefused\.test refused \(550',
              r'facteur-keytool alias add postmaster@pmrefused\.test')])
case('pmfacteur', smtp='facteur',
     expect=[('OK', r'postmaster@pmfacteur\.test accepted', None)])
case('dmarcnone', dmarc=None,
     expect=[('WARN', r'DMARC dmarcnone\.test: no v=DMARC1 record',
              r'publish: name _dmarc, type TXT, value v=DMARC1; '
              r'p=quarantine; rua=mailto:postmaster@dmarcnone\.test')])

# ---------------------------------------------------------------------------
# material shared by the cases

hostnames = [f'mail.{n}.test' for n in CASES]
ROOT = cert('Test Root', ca=True)
INTER = cert('Test Intermediate', ROOT, ca=True)
LEAF = cert('mail', INTER, sans=hostnames + ['smtp.provider.test',
                                             'smtp.nospf.test'], aia=True)
UROOT = cert('Unknown Root', ca=True)
UINTER = cert('Unknown Intermediate', UROOT, ca=True)
ULEAF = cert('mail', UINTER, sans=hostnames)
OLD = cert('mail', INTER, sans=hostnames, before=NOW - 90 * DAY,
           after=NOW - DAY)
WRONG = cert('other', INTER, sans=['other.test'])
KEY = write('leaf.key', EC.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()), 0o600)
CA_FILE = write('root.pem', pem(ROOT[0]))
UCA_FILE = write('uroot.pem', pem(UROOT[0]))
CHAINS = {
    'good': write('full.pem', pem(LEAF[0]) + pem(INTER[0])),
    'unknown': write('unknown.pem', pem(ULEAF[0]) + pem(UINTER[0])),
    'nointer': write('leaf.pem', pem(LEAF[0])),
    'expired': write('old.pem', pem(OLD[0]) + pem(INTER[0])),
    'wrongname': write('wrong.pem', pem(WRONG[0]) + pem(INTER[0])),
}
# the smarthost serves the good chain (it names smtp.provider.test)
RELAY_PKI = {'relay.pem': CHAINS['good'], 'relay.key': KEY}


def dkim_key(bits):
    k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path = write(f'dkim{bits}.key', k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    der = k.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, 'v=DKIM1; k=rsa; p=' + base64.b64encode(der).decode()


DKIM2048 = dkim_key(2048)
DKIM1024 = dkim_key(1024)


class RefusingPostmaster(rf.Handler):
    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.lower().startswith('postmaster@pmrefused'):
            return '550 5.1.1 no such user'
        envelope.rcpt_tos.append(address)
        return '250 OK'


relay = rf.Sink(env, RELAY_PKI, starttls='relay', auth=True)
# aiosmtpd knows TLS only from STARTTLS: let it offer AUTH on 465 too
relay_tls = rf.Sink(env, RELAY_PKI, implicit='relay', auth=True,
                    auth_require_tls=False)
outside_mx = rf.Sink(env, RELAY_PKI)
pm_server = rf.Sink(env, RELAY_PKI, handler=RefusingPostmaster())
silent = socket.socket()
silent.bind(('127.0.0.1', 0))
silent.listen(8)                # never accepted: no greeting (a drop)
SILENT_PORT = silent.getsockname()[1]

for name in ('smtp.provider.test', 'smtp.nospf.test'):
    dns.add(name, 'A', '127.0.0.1')
dns.add('provider.test', 'TXT', 'v=spf1 ip4:127.0.0.1 -all')
for i in range(11):
    dns.add(f'l{i}.spflookups.test', 'TXT', 'v=spf1 -all')

# facteur itself, for the postmaster@ of a local domain
fport = env.port()
env.write_config(domains='pmfacteur.test', hostname='mail.pmfacteur.test',
                 smtp={'listen': [f'127.0.0.1:{fport}']})
env.add_user('alice@pmfacteur.test', 'secret pw')
env.start('authd')
env.start('smtpd', ports=[fport])


def reverse(ip):
    return '.'.join(reversed(ip.split('.'))) + '.in-addr.arpa'


def reverse6(ip):
    h = ipaddress.IPv6Address(ip).exploded.replace(':', '')
    return '.'.join(reversed(h)) + '.ip6.arpa'


def printed_spf(conf):
    """The SPF value `facteur-keytool dns` prints for the domain."""
    out = subprocess.run([KEYTOOL, '-c', conf, 'dns'], capture_output=True,
                         text=True, timeout=30).stdout
    m = re.search(r'IN TXT\s+"(v=spf1 [^"]*)"', out)
    return m.group(1) if m else 'v=spf1 ?'


def setup(name, n):
    """Write the case's configuration and zone; returns the config path."""
    c = CASES[name]
    dom = f'{name}.test'
    host = f'mail.{dom}'
    ip = f'192.0.2.{n}'
    c['ip'] = ip
    d = env.path('cases', name)
    os.makedirs(os.path.join(d, 'state'))
    keyfile, txt = DKIM1024 if c.get('dkim') == 'rsa1024' else DKIM2048
    tls = c.get('tls', 'good')
    cert_file, key_file = CHAINS.get(tls, ''), KEY
    lines = [f'hostname = {host}', f'domains = {dom}',
             f'state_dir = {d}/state', f'mail_dir = {d}/mail/%d/%u',
             f'run_dir = {d}/run', f'user = {env.user}', 'log = stderr',
             '[tls]', f'cert = {d}/cert.pem' if tls == 'selfsigned'
             else f'cert = {cert_file}',
             f'key = {d}/key.pem' if tls == 'selfsigned' else f'key = {key_file}',
             '[dkim]', f'sign = {dom} sel {keyfile}',
             '[dns]', f'resolver = 127.0.0.1:{dns.port}',
             '[doctor]', f'myip = myip.{dom}@127.0.0.1:{dns.port}',
             f'myip6 = myip.{dom}@127.0.0.1:{dns.port}',
             'dnsbl = bl.test', 'timeout = 1s', f'ca_file = {CA_FILE}']
    smtp = c.get('smtp')
    lines.append('smtp = 127.0.0.1:%d' % (
        fport if smtp == 'facteur' else pm_server.port if smtp == 'refusing'
        else outside_mx.port))
    lines.append('probe = nowhere.test:25' if c.get('probe') ==
                 'unresolvable' else 'probe = 127.0.0.1:%d' % (
                     SILENT_PORT if c.get('probe') == 'silent'
                     else outside_mx.port))
    if c.get('relay'):
        secret = os.path.join(d, 'relay.secret')
        with open(secret, 'w', encoding='ascii') as f:
            f.write(c.get('password', rf.RELAY_PASS) + '\n')
        os.chmod(secret, 0o600)
        implicit = c.get('relay_tls') == 'implicit'
        lines += ['[relay]', f'host = {c["relay"]}',
                  f'port = {relay_tls.port if implicit else relay.port}',
                  'tls = implicit' if implicit else 'tls = starttls',
                  f'user = {rf.RELAY_USER}', f'password_file = {secret}',
                  'ca_file = ' + (UCA_FILE if c.get('relay_ca') == 'unknown'
                                  else CA_FILE)]
    if c.get('backup'):
        lines += ['[smtp]', f'backup_domains = {name}-friend.test']
    if c.get('senders'):
        lines += ['[sendmail]', f'sender = root alice@{dom} nas@{dom}',
                  f'sender = nosuchacct7 alice@{dom}']
    if c.get('acme'):
        if c['acme'] == 'www':
            os.makedirs(os.path.join(d, 'www'))
        lines += ['[acme]', f'email = postmaster@{dom}',
                  f'webroot = {d}/{c["acme"]}']
    conf = os.path.join(d, 'facteur.conf')
    with open(conf, 'w', encoding='ascii') as f:
        f.write('\n'.join(lines) + '\n')
    if tls == 'selfsigned':
        subprocess.run([KEYTOOL, '-c', conf, 'tls', 'selfsigned'],
                       capture_output=True, check=True, timeout=30)
    if c.get('senders'):
        subprocess.run([KEYTOOL, '-c', conf, 'user', 'add', f'alice@{dom}'],
                       input='alice pw\n', text=True, capture_output=True,
                       check=True, timeout=30)
    # the zone
    dns.add(f'myip.{dom}', 'A', ip)
    dns.add(host, 'A', c.get('a', ip))
    if c.get('v6'):
        ip6 = f'2001:db8::{n}'
        c['ip6'] = ip6
        dns.add(f'myip.{dom}', 'AAAA', ip6)
        if c.get('aaaa', ip6):
            dns.add(host, 'AAAA', c.get('aaaa', ip6))
        if c.get('ptr6', True):
            dns.add(reverse6(ip6), 'PTR', host + '.')
    for pref, mx in c.get('mx', [(10, host)]):
        dns.add(dom, 'MX', f'{pref} {mx}.')
    spf = c.get('spf', 'v=spf1 mx -all')
    if spf == 'PRINTED':
        spf = printed_spf(conf)
    if spf is not None:
        dns.add(dom, 'TXT', spf)
    if c.get('dmarc', True):
        dns.add(f'_dmarc.{dom}', 'TXT',
                f'v=DMARC1; p=quarantine; rua=mailto:postmaster@{dom}')
    variant = c.get('dkim')
    rec = {
        'quotes': '"' + txt[:255] + '" "' + txt[255:] + '"',
        'backslash': txt.replace(';', '\\;'),
        'truncated': txt[:255],
    }.get(variant, txt)
    dns.add(f'sel._domainkey.{dom}', 'TXT', rec)
    ptr = c.get('ptr', host + '.')
    if ptr is not None:
        dns.add(reverse(ip), 'PTR', ptr)
    if c.get('listed'):
        dns.add(reverse(ip).replace('.in-addr.arpa', '') + '.bl.test', 'A',
                '127.0.0.2')
    for pref, mx in c.get('backup', []):
        dns.add(f'{name}-friend.test', 'MX',
                f'{pref} {host if mx == "HOST" else "mx." + name + "-friend.test"}.')
    if c.get('backup'):
        dns.add(f'mx.{name}-friend.test', 'A', '198.51.100.25')
    for rname, rtype, value in c.get('extra', []):
        dns.add(rname, rtype, value.replace('IP', ip))
    return conf


def doctor(conf):
    e = dict(os.environ, ASAN_OPTIONS=ft.TOOL_ASAN, UBSAN_OPTIONS=ft.UBSAN)
    t = time.time()
    r = subprocess.run([KEYTOOL, '-c', conf, 'doctor'], capture_output=True,
                       text=True, timeout=120, env=e)
    return r, time.time() - t


def lines_of(out):
    return [l for l in out.splitlines()
            if re.match(r'^(OK|WARN|FAIL|INFO)\s', l)]


FIX = re.compile(r'publish: name (\S+), type (\S+), value (.*?) '
                 r'\(zone file: ')


def judge(name, r, took):
    c = CASES[name]
    out = r.stdout + r.stderr
    ls = lines_of(r.stdout)
    check(not any(m in r.stderr for m in ft.SANITIZER_MARKS),
          f'{name}: no sanitizer report', r.stderr[-3000:])
    if not c.get('expect'):
        bad = [l for l in ls if l.startswith(('WARN', 'FAIL'))]
        check(r.returncode == 0 and not bad and len(ls) >= 12,
              f'{name}: a clean set-up gives only OK (exit 0)', out)
        return
    for verdict, what, fix in c['expect']:
        hit = [l for l in ls if l.startswith(verdict)
               and re.search(what, l)]
        check(hit, f'{name}: {verdict} line /{what}/', out)
        if hit and fix:
            check(re.search(fix, hit[0]), f'{name}: the fix /{fix}/', hit[0])
    want_rc = 1 if any(v == 'FAIL' for v, _, _ in c['expect']) else 0
    check(r.returncode == want_rc, f'{name}: exit {want_rc}',
          f'exit {r.returncode}: {out}')
    if want_rc == 0:
        bad = [l for l in ls if l.startswith('FAIL')]
        check(not bad, f'{name}: no FAIL', out)


def run_all(names, confs):
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as ex:
        futs = {n: ex.submit(doctor, confs[n]) for n in names}
        return {n: f.result() for n, f in futs.items()}


def test_cases():
    confs = {n: setup(n, 10 + i) for i, n in enumerate(CASES)}
    res = run_all(list(CASES), confs)
    for n, (r, took) in res.items():
        judge(n, r, took)
    print('# doctor wall time per case: max %.1f s' %
          max(t for _, t in res.values()), flush=True)
    # the SPF fixes printed, published, must pass
    refix = {}
    for n, c in CASES.items():
        if not c.get('refix'):
            continue
        m = [FIX.search(l) for l in lines_of(res[n][0].stdout)
             if l.startswith('FAIL') and 'SPF' in l]
        m = [x for x in m if x]
        if not check(m, f'{n}: an SPF fix is printed', res[n][0].stdout):
            continue
        dns.set_txt(f'{n}.test', m[0].group(3))
        refix[n] = m[0].group(3)
    res2 = run_all(list(refix), confs)
    for n, (r, _) in res2.items():
        ok = [l for l in lines_of(r.stdout) if l.startswith('OK')
              and l.startswith(f'OK   SPF {n}.test:') and 'passes for' in l]
        check(ok, f'{n}: the printed SPF record "{refix[n]}" passes once '
              'published', r.stdout)
    # the relay set-up: the record `facteur-keytool dns` prints passes when
    # the provider publishes SPF, and the login is shown
    ls = lines_of(res['relayclean'][0].stdout)
    check([l for l in ls if re.match(
        r'OK\s+relay smtp\.provider\.test:\d+: EHLO, STARTTLS \(TLSv1\.[23].*'
        r'\), AUTH PLAIN as me@example\.net accepted \(235', l)],
        'relayclean: the relay login is tried and shown', ls)
    check([l for l in ls if re.match(
        r'OK\s+SPF relayclean\.test: "v=spf1 mx include:provider\.test '
        r'~all" passes for 192\.0\.2\.\d+, 127\.0\.0\.1', l)],
        'relayclean: the printed SPF passes for us and the smarthost', ls)
    # `keytool dns` prints a record that passes, even when the provider's
    # domain has no SPF record to include
    printed = printed_spf(confs['relaynospf'])
    check(printed == 'v=spf1 mx a:smtp.nospf.test ~all',
          'keytool dns: the relay SPF it prints evaluates to pass', printed)
    # IPv6: both public addresses found, each checked (A and AAAA, PTR,
    # DNSBL, SPF)
    ls = lines_of(res['v6clean'][0].stdout)
    ip, ip6 = CASES['v6clean']['ip'], CASES['v6clean']['ip6']
    for want in (f'OK   public address: {ip} ',
                 f'OK   public IPv6 address: {ip6} (asked myip.v6clean.test',
                 f'OK   A mail.v6clean.test: {ip} ',
                 f'OK   AAAA mail.v6clean.test: {ip6} ',
                 f'OK   PTR {ip}: mail.v6clean.test, forward-confirmed',
                 f'OK   PTR {ip6}: mail.v6clean.test, forward-confirmed',
                 f'OK   DNSBL: {ip6} is on none',
                 f'passes for {ip}, {ip6}'):
        check([l for l in ls if want in l], f'v6clean: "{want}"', ls)
    ls = lines_of(res['clean'][0].stdout)
    check([l for l in ls if l.startswith('INFO public IPv6 address: none')],
          'clean: no IPv6 address is only INFO', ls)
    ls = lines_of(res['mxservice'][0].stdout)
    check(not [l for l in ls if l.startswith('WARN') and 'MX' in l],
          'mxservice: no false warning for an MX named otherwise', ls)
    not_root(confs['clean'])


def not_root(conf):
    """the doctor run by an account that cannot read the keys (0600,
    root's here): the fix is to run it as root, not to replace the DKIM
    key (its DNS record would then be wrong) or the certificate"""
    if os.geteuid() != 0:
        return
    e = dict(os.environ, ASAN_OPTIONS=ft.TOOL_ASAN, UBSAN_OPTIONS=ft.UBSAN)
    r = subprocess.run([KEYTOOL, '-c', conf, 'doctor'], capture_output=True,
                       text=True, timeout=120, env=e, user='nobody',
                       group='nogroup', extra_groups=[], cwd='/')
    ls = lines_of(r.stdout)
    dk = [l for l in ls if l.startswith('FAIL DKIM')]
    check(dk and all('doctor as root' in l and 'dkim generate' not in l
                     for l in dk),
          'not root: an unreadable DKIM key says to run the doctor as root',
          r.stdout + r.stderr)
    tk = [l for l in ls if l.startswith('FAIL TLS key')]
    check(tk and all('doctor as root' in l for l in tk),
          'not root: an unreadable TLS key says to run the doctor as root',
          r.stdout + r.stderr)
    check(not [l for l in ls if 'tls selfsigned' in l],
          'not root: no advice to replace the certificate', ls)
    ac = [l for l in ls if l.startswith('FAIL ACME webroot')]
    check(ac and all('doctor as root' in l and 'set [acme] webroot' not in l
                     for l in ac),
          'not root: a webroot it may not write says to run the doctor as '
          'root, not to change webroot', r.stdout + r.stderr)


def main():
    try:
        test_cases()
    finally:
        relay.stop()
        relay_tls.stop()
        outside_mx.stop()
        pm_server.stop()
        silent.close()
        dns.stop()
    print(f'# test_doctor: {len(CASES)} cases, {time.time() - T0:.1f} s',
          flush=True)
    ft.run_tests(env, [])


if __name__ == '__main__':
    main()
