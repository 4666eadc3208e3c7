#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_dmarc_keytool.py - `facteur-keytool dmarc DOMAIN` against a test DNS
server on 127.0.0.1 (ZoneServer in spf_fixtures.py, dnspython), named by
[dns] resolver: lib/psl.c, lib/dmarc*.c over lib/dns and real c-ares
lookups, with Debian's Public Suffix List ([inbound] psl default).

Checks the organizational domain (co.uk, a private-section name), the
record and where it was found (the From domain, or the organizational
domain whose sp= then applies), the policy line, pct, alignment modes, no
record, an unusable record (bad p= without rua=), two records, a SERVFAIL
(exit 1), and exit 2 on bad arguments.  Prints "N passed, M failed".
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spf_fixtures import BIN, ZoneServer  # noqa: E402
from facteur_test import check, summary  # noqa: E402

ZONE = {
    '_dmarc.example.co.uk': [{'TXT': 'v=DMARC1; p=reject; sp=quarantine; '
                              'adkim=s; pct=40; rua=mailto:d@example.co.uk'},
                             {'TXT': 'unrelated text'}],
    'example.co.uk': [{'TXT': 'v=spf1 -all'}],
    '_dmarc.own.example.co.uk': [{'TXT': 'v=DMARC1; p=none'}],
    '_dmarc.alice.github.io': [{'TXT': 'v=DMARC1; p=quarantine'}],
    '_dmarc.bad.example': [{'TXT': 'v=DMARC1; p=nonsense'}],
    '_dmarc.fixed.example': [{'TXT': 'v=DMARC1; p=nonsense; '
                              'rua=mailto:d@fixed.example'}],
    '_dmarc.two.example': [{'TXT': 'v=DMARC1; p=reject'},
                           {'TXT': 'v=DMARC1; p=none'}],
}


def keytool(conf, *args):
    env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1')
    r = subprocess.run([os.path.join(BIN, 'facteur-keytool'), '-c', conf,
                        'dmarc'] + list(args), capture_output=True, text=True,
                       timeout=60, env=env)
    return r.returncode, r.stdout, r.stderr


def field(out, name):
    for line in out.splitlines():
        if line.startswith(name + ':'):
            return line[len(name) + 1:].strip()
    return None


def main():
    srv = ZoneServer(ZONE)
    srv.servfail.add('_dmarc.down.example')
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, 'facteur.conf')
        with open(conf, 'w') as f:
            f.write('hostname = mx.test.example\ndomains = test.example\n'
                    f'state_dir = {d}/state\n[dns]\n'
                    f'resolver = 127.0.0.1:{srv.port}\n')

        rc, out, err = keytool(conf, 'example.co.uk')
        check(rc == 0, 'example.co.uk: exit 0', out + err)
        check(field(out, 'public suffix') == 'co.uk', 'public suffix co.uk', out)
        check(field(out, 'organizational') == 'example.co.uk', 'org domain', out)
        check(field(out, 'record') == '_dmarc.example.co.uk', 'record at the domain', out)
        check('"v=DMARC1; p=reject; sp=quarantine; adkim=s; pct=40; '
              'rua=mailto:d@example.co.uk"' in out, 'record text', out)
        check(field(out, 'policy') == 'reject (p=)', 'policy p=reject', out)
        check(field(out, 'pct').startswith('40 (the other 60% of failing mail '
                                           'gets quarantine)'), 'pct', out)
        check(field(out, 'alignment') == 'adkim=s (strict) aspf=r (relaxed)',
              'alignment modes', out)
        check(field(out, 'failing mail') == 'refused (550 5.7.1)', 'effect', out)

        rc, out, err = keytool(conf, 'News.Mail.Example.CO.UK.')
        check(rc == 0 and field(out, 'domain') == 'news.mail.example.co.uk',
              'subdomain: normalized', out + err)
        check(field(out, 'organizational') == 'example.co.uk', 'subdomain: org', out)
        check(field(out, 'record') == '_dmarc.example.co.uk (organizational '
              'domain; sp= applies to subdomains)', 'found at the org domain', out)
        check(field(out, 'policy') == 'quarantine (sp=)', 'sp= applies', out)
        check(field(out, 'failing mail') == 'delivered to the Junk folder',
              'quarantine effect', out)

        rc, out, err = keytool(conf, 'own.example.co.uk')
        check(field(out, 'record') == '_dmarc.own.example.co.uk' and
              field(out, 'policy') == 'none (p=)', 'own record wins', out + err)

        rc, out, err = keytool(conf, 'www.alice.github.io')
        check(field(out, 'organizational') == 'alice.github.io' and
              field(out, 'public suffix') == 'github.io',
              'private section: github.io', out + err)
        check(field(out, 'policy') == 'quarantine (p=)', 'no sp=: p applies', out)

        rc, out, err = keytool(conf, 'nothing.example.org')
        check(rc == 0 and field(out, 'record') ==
              'none at _dmarc.nothing.example.org nor _dmarc.example.org',
              'no record', out + err)
        check(field(out, 'policy').startswith('none: no DMARC processing'),
              'no record: no policy', out)

        rc, out, err = keytool(conf, 'bad.example')
        check(rc == 0 and field(out, 'record') == '_dmarc.bad.example: DMARC '
              'record without a valid p=', 'bad p=, no rua: unusable', out + err)
        rc, out, err = keytool(conf, 'fixed.example')
        check(rc == 0 and field(out, 'policy').startswith('none (p= or sp= '
              'invalid, rua= given'), 'bad p= with rua: none', out + err)
        rc, out, err = keytool(conf, 'two.example')
        check(rc == 0 and field(out, 'record') == '_dmarc.two.example: more '
              'than one DMARC record', 'two records', out + err)

        rc, out, err = keytool(conf, 'down.example')
        check(rc == 1 and 'DNS failure' in field(out, 'record'),
              'SERVFAIL: exit 1, said', f'rc={rc} {out}{err}')

        for args in ((), ('a.example', 'b.example')):
            rc, out, err = keytool(conf, *args)
            check(rc == 2 and 'usage' in err, f'bad arguments {args}: exit 2',
                  f'rc={rc} {err}')
        check(srv.queries > 0, 'the test server was asked')

        with open(conf, 'a') as f:
            f.write('[inbound]\npsl = /nonexistent/list.dat\n')
        rc, out, err = keytool(conf, 'example.co.uk')
        check(rc == 1 and '/nonexistent/list.dat' in err,
              '[inbound] psl is used, a missing file said', err)
    srv.close()
    return summary()


if __name__ == '__main__':
    sys.exit(main())
