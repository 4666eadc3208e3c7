#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_spf_keytool.py - `facteur-keytool spf IP MAILFROM [HELO]` against a
test DNS server on 127.0.0.1 (ZoneServer in spf_fixtures.py, dnspython),
named by [dns] resolver: lib/spf.c over lib/dns and real c-ares lookups.

Checks the result line, the identity (MAIL FROM, or postmaster@HELO for
an empty MAIL FROM), the term that decided, the exp= explanation, the
chain of records and terms printed, the Authentication-Results line, a
SERVFAIL as temperror (exit 0), and exit 2 on bad arguments.  Prints
"N passed, M failed".
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spf_fixtures import BIN, ZoneServer  # noqa: E402
from facteur_test import check, summary  # noqa: E402

ZONE = {
    'example.org': [{'TXT': 'v=spf1 include:_spf.example.org '
                     'exp=why.example.org -all'},
                    {'TXT': 'some-verification=1'}],
    '_spf.example.org': [{'TXT': 'v=spf1 mx a:out.example.org ~all'},
                         {'MX': [10, 'mx.example.org']}],
    'mx.example.org': [{'A': '192.0.2.25'}, {'AAAA': '2001:db8::25'}],
    'out.example.org': [{'A': '192.0.2.26'}],
    'why.example.org': [{'TXT': '%{i} may not send for %{d} (%{s})'}],
    'helo.example.net': [{'TXT': 'v=spf1 ip4:198.51.100.0/24 -all'}],
    'broken.example.org': [{'TXT': 'v=spf1 ip4:300.1.1.1 -all'}],
    'cname.example.org': [{'CNAME': 'example.org'}],
}


def keytool(conf, *args):
    env = dict(os.environ, ASAN_OPTIONS='detect_leaks=1')
    r = subprocess.run([os.path.join(BIN, 'facteur-keytool'), '-c', conf,
                        'spf'] + list(args), capture_output=True, text=True,
                       timeout=60, env=env)
    return r.returncode, r.stdout, r.stderr


def field(out, name):
    for line in out.splitlines():
        if line.startswith(name + ': '):
            return line[len(name) + 2:]
    return None


def main():
    srv = ZoneServer(ZONE)
    srv.servfail.add('servfail.example.org')
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, 'facteur.conf')
        with open(conf, 'w') as f:
            f.write('hostname = mx.test.example\ndomains = test.example\n'
                    f'state_dir = {d}/state\n[dns]\n'
                    f'resolver = 127.0.0.1:{srv.port}\n')

        rc, out, err = keytool(conf, '192.0.2.25', 'alice@example.org')
        check(rc == 0 and field(out, 'result') == 'pass',
              'mx of the include: pass', out + err)
        check(field(out, 'decided by') == 'include:_spf.example.org',
              'decided by the include', out)
        check(field(out, 'identity') == 'mailfrom (alice@example.org)',
              'identity mailfrom', out)
        for want in ('example.org: "v=spf1 include:_spf.example.org',
                     '  _spf.example.org: "v=spf1 mx a:out.example.org ~all"',
                     '    mx: match', '  include:_spf.example.org: pass',
                     'result: pass by include:_spf.example.org'):
            check(want in out, f'trace shows {want!r}', out)
        check('Authentication-Results: spf=pass '
              'smtp.mailfrom=alice@example.org' in out, 'A-R line', out)

        rc, out, err = keytool(conf, '2001:db8::25', '<alice@example.org>')
        check(rc == 0 and field(out, 'result') == 'pass', 'IPv6 mx: pass',
              out + err)
        rc, out, err = keytool(conf, '192.0.2.26', 'bob@example.org')
        check(field(out, 'result') == 'pass', 'a:out: pass', out + err)

        rc, out, err = keytool(conf, '192.0.2.99', 'bob@example.org')
        check(rc == 0 and field(out, 'result') == 'fail', 'other IP: fail',
              out + err)
        check(field(out, 'decided by') == '-all', 'decided by -all', out)
        check(field(out, 'explanation') ==
              '192.0.2.99 may not send for example.org (bob@example.org)',
              'exp= explanation expanded', out)

        rc, out, err = keytool(conf, '198.51.100.7', '<>', 'helo.example.net')
        check(rc == 0 and field(out, 'result') == 'pass' and
              field(out, 'identity') == 'helo (postmaster@helo.example.net)',
              'empty MAIL FROM: HELO identity', out + err)
        check('Authentication-Results: spf=pass smtp.helo=helo.example.net'
              in out, 'A-R line smtp.helo', out)

        rc, out, err = keytool(conf, '192.0.2.25', 'a@cname.example.org')
        check(field(out, 'result') == 'pass', 'CNAME followed', out + err)
        rc, out, err = keytool(conf, '192.0.2.25', 'a@nothing.example.org')
        check(rc == 0 and field(out, 'result') == 'none', 'NXDOMAIN: none',
              out + err)
        rc, out, err = keytool(conf, '192.0.2.25', 'a@broken.example.org')
        check(rc == 0 and field(out, 'result') == 'permerror' and
              'ip4:300.1.1.1' in (field(out, 'problem') or ''),
              'bad record: permerror, problem names the term', out + err)
        rc, out, err = keytool(conf, '192.0.2.25', 'a@servfail.example.org')
        check(rc == 0 and field(out, 'result') == 'temperror',
              'SERVFAIL: temperror, exit 0', out + err)

        for args in ((), ('192.0.2.1',), ('mail.example.org', 'a@b.example'),
                     ('192.0.2.1', '<>'), ('192.0.2.1', 'a@b.c', 'h', 'x')):
            rc, out, err = keytool(conf, *args)
            check(rc == 2 and 'usage' in err, f'bad arguments {args}: exit 2',
                  f'rc={rc} {err}')
        check(srv.queries > 0, 'the test server was asked')
    srv.close()
    return summary()


if __name__ == '__main__':
    sys.exit(main())
