#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of scripts/fetch-kernel.sh's Debian archive fallback, without the
network: each case builds a fake apt root (sources in both formats, disabled
and ignored files, none at all) and points apt at it with APT_CONFIG, as a
user's APT_CONFIG would.  The download cases serve a small signed archive
from a file: URI.  Every case either gets the right mirror or tree, or ends
with one 'fetch-kernel: error:' line saying what is missing.  Prints TAP
when run alone; tests/harness/run.py runs it in `make check`."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FETCH = os.path.join(TOP, 'scripts', 'fetch-kernel.sh')
HAVE_APT = shutil.which('apt-get') is not None
HAVE_ARCHIVE_TOOLS = all(shutil.which(t) for t in ('gpg', 'dpkg-deb', 'dpkg-scanpackages'))


class FakeRoot:
    """A directory apt treats as / (Dir), with nothing of the host's apt."""

    def __init__(self, tmp):
        self.root = os.path.join(tmp, 'root')
        for d in ('etc/apt/apt.conf.d', 'etc/apt/sources.list.d',
                  'var/lib/apt/lists', 'var/lib/dpkg'):
            os.makedirs(os.path.join(self.root, d))
        open(os.path.join(self.root, 'var/lib/dpkg/status'), 'w').close()
        self.apt_config = os.path.join(tmp, 'apt.conf')
        with open(self.apt_config, 'w') as f:
            f.write('Dir "%s/";\n' % self.root)
            f.write('Dir::State::status "%s/var/lib/dpkg/status";\n' % self.root)
            f.write('APT::Architecture "amd64";\nAPT::Architectures { "amd64"; };\n')

    def write(self, path, text):
        path = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)


def run_fetch(root, *args, env=None):
    e = dict(os.environ)
    e.pop('GMEMPV_DEBIAN_MIRROR', None)
    e.pop('GMEMPV_KERNEL_SRC', None)
    e['APT_CONFIG'] = root.apt_config
    e.update(env or {})
    p = subprocess.run([FETCH] + list(args), env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


class Base(unittest.TestCase):
    def setUp(self):
        if not HAVE_APT:
            self.skipTest('no apt-get on this machine')
        self.tmp = tempfile.mkdtemp(prefix='gmempv-fetch-')
        os.chmod(self.tmp, 0o755)       # apt's _apt user reads file: archives
        self.addCleanup(shutil.rmtree, self.tmp)
        self.root = FakeRoot(self.tmp)

    def assertFailsSaying(self, result, *words):
        rc, _, err = result
        self.assertNotEqual(rc, 0, err)
        errors = [l for l in err.splitlines() if l.startswith('fetch-kernel: error: ')]
        self.assertEqual(len(errors), 1, 'want exactly one error line:\n' + err)
        self.assertEqual(err.strip().splitlines()[-1], errors[0], err)
        self.assertNotIn('unexpected failure', errors[0])
        for w in words:
            self.assertIn(w, errors[0])


DEB822 = """Types: deb
URIs: http://mirror.test/debian
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.test/debian-security
Suites: trixie-security
Components: main
"""
# Enabled: no is per stanza: both are off
DEB822_OFF = 'Enabled: no\n' + DEB822.replace('\n\n', '\n\nEnabled: no\n')


class Mirrors(Base):
    """fetch-kernel.sh --print-mirrors: apt's enabled Debian sources."""

    def mirrors(self):
        rc, out, err = run_fetch(self.root, '--print-mirrors')
        self.assertEqual(rc, 0, err)
        return out.split()

    def test_deb822_only(self):
        self.root.write('etc/apt/sources.list.d/debian.sources', DEB822)
        self.assertEqual(self.mirrors(), ['http://mirror.test/debian/'])

    def test_one_line_list_only(self):
        self.root.write('etc/apt/sources.list',
                        '# deb http://commented.test/debian bookworm main\n'
                        'deb http://list.test/debian bookworm main\n'
                        'deb http://list.test/debian-security bookworm-security main\n')
        self.assertEqual(self.mirrors(), ['http://list.test/debian/'])

    def test_disabled_deb822_and_enabled_list(self):
        self.root.write('etc/apt/sources.list.d/off.sources', DEB822_OFF.replace('mirror.test', 'disabled.test'))
        self.root.write('etc/apt/sources.list.d/old.list.disabled-by-farm',
                        'deb http://ignored1.test/debian trixie main\n')
        self.root.write('etc/apt/sources.list.d/old.sources.disabled',
                        DEB822.replace('mirror.test', 'ignored2.test'))
        self.root.write('etc/apt/sources.list.d/on.list',
                        'deb [arch=amd64] http://enabled.test/debian bookworm-backports main\n')
        self.assertEqual(self.mirrors(), ['http://enabled.test/debian/'])

    def test_known_release_origin_decides(self):
        # A vendor archive named like a Debian suite is not taken once apt
        # has its Release (Origin: Vendor); a known Debian one goes first.
        self.root.write('etc/apt/sources.list',
                        'deb http://vendor.test/apt bookworm main\n'
                        'deb http://guess.test/debian trixie main\n'
                        'deb http://known.test/debian stable main\n')
        for site, origin in (('vendor.test_apt', 'Vendor'), ('known.test_debian', 'Debian')):
            suite = 'stable' if origin == 'Debian' else 'bookworm'
            self.root.write('var/lib/apt/lists/%s_dists_%s_InRelease' % (site, suite),
                            'Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\n'
                            'Components: main\nArchitectures: amd64\n'
                            % (origin, origin, suite, suite))
            self.root.write('var/lib/apt/lists/%s_dists_%s_main_binary-amd64_Packages'
                            % (site, suite), '')
        self.assertEqual(self.mirrors(), ['http://known.test/debian/', 'http://guess.test/debian/'])

    def test_no_sources_at_all(self):
        r = run_fetch(self.root, '--print-mirrors')
        self.assertFailsSaying(r, 'apt has no enabled sources',
                               self.root.root + '/etc/apt/sources.list')
        self.assertEqual(r[1], '')

    def test_only_disabled_sources(self):
        self.root.write('etc/apt/sources.list.d/off.sources', DEB822_OFF)
        self.assertFailsSaying(run_fetch(self.root, '--print-mirrors'),
                               'apt has no enabled sources')

    def test_no_debian_source(self):
        self.root.write('etc/apt/sources.list.d/vendor.sources',
                        'Types: deb\nURIs: http://vendor.test/node\nSuites: nodistro\n'
                        'Components: main\n')
        self.root.write('etc/apt/sources.list', 'deb http://mirror.test/debian-security '
                        'trixie-security main\n')
        self.assertFailsSaying(run_fetch(self.root, '--print-mirrors'),
                               'no enabled Debian archive', 'http://vendor.test/node/ nodistro')

    def test_malformed_sources(self):
        self.root.write('etc/apt/sources.list', 'deb http://mirror.test/debian\n')
        self.assertFailsSaying(run_fetch(self.root, '--print-mirrors'),
                               'apt-get indextargets failed')

    def test_mirror_override(self):
        rc, out, err = run_fetch(self.root, '--print-mirrors',
                                 env={'GMEMPV_DEBIAN_MIRROR': 'http://override.test/debian'})
        self.assertEqual((rc, out), (0, 'http://override.test/debian\n'), err)


def fake_kernel_deb(tmp, version):
    """A linux-source-7.3 .deb whose tarball holds a tree that says 7.3.99."""
    src = os.path.join(tmp, 'src', 'linux-source-7.3')
    os.makedirs(src)
    with open(os.path.join(src, 'Makefile'), 'w') as f:
        f.write('kernelversion:\n\t@echo 7.3.99\n')
    pkg = os.path.join(tmp, 'pkg')
    os.makedirs(os.path.join(pkg, 'DEBIAN'))
    os.makedirs(os.path.join(pkg, 'usr/src'))
    subprocess.run(['tar', '-C', os.path.join(tmp, 'src'), '-cJf',
                    os.path.join(pkg, 'usr/src/linux-source-7.3.tar.xz'), 'linux-source-7.3'],
                   check=True)
    with open(os.path.join(pkg, 'DEBIAN/control'), 'w') as f:
        f.write('Package: linux-source-7.3\nVersion: %s\nArchitecture: all\n'
                'Maintainer: Test <test@invalid>\nDescription: test kernel source\n' % version)
    deb = os.path.join(tmp, 'linux-source-7.3_%s_all.deb' % version)
    subprocess.run(['dpkg-deb', '-Zxz', '--root-owner-group', '--build', pkg, deb],
                   check=True, stdout=subprocess.DEVNULL)
    return deb


class Download(Base):
    """The whole fallback, from a signed file: archive, no ../shared."""

    def setUp(self):
        super().setUp()
        if not HAVE_ARCHIVE_TOOLS:
            self.skipTest('no gpg, dpkg-deb or dpkg-scanpackages')
        self.gnupg = os.path.join(self.tmp, 'gnupg')
        os.makedirs(self.gnupg, mode=0o700)
        self.archive = os.path.join(self.tmp, 'archive')
        self.keyring = os.path.join(self.tmp, 'archive-keyring.gpg')
        self.gpg('--quick-generate-key', 'gmem-pv test archive', 'ed25519', 'sign', 'never')
        self.dest = os.path.join(self.tmp, 'build', 'linux-7.3')
        self.env = {'GMEMPV_SHARED': os.path.join(self.tmp, 'no-shared'),
                    'GMEMPV_DEBIAN_KEYRING': self.keyring}
        self.root.write('etc/apt/sources.list.d/debian.sources',
                        DEB822.replace('http://mirror.test/debian', 'file:' + self.archive))

    def gpg(self, *args, **kw):
        return subprocess.run(['gpg', '--batch', '--quiet', '--homedir', self.gnupg,
                               '--passphrase', '', '--pinentry-mode', 'loopback'] + list(args),
                              check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def publish(self, suite='trixie-backports', tamper=False):
        pool = os.path.join(self.archive, 'pool')
        os.makedirs(pool)
        deb = fake_kernel_deb(os.path.join(self.tmp, 'deb'), '7.3.99-1~bpo13+1')
        shutil.copy(deb, pool)
        dist = os.path.join(self.archive, 'dists', suite)
        bdir = os.path.join(dist, 'main', 'binary-amd64')
        os.makedirs(bdir)
        pk = subprocess.run(['dpkg-scanpackages', '-m', 'pool', '/dev/null'], cwd=self.archive,
                            check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        with open(os.path.join(bdir, 'Packages'), 'wb') as f:
            f.write(pk)
        if tamper:      # the .deb changes after the archive listed its hash
            with open(os.path.join(pool, os.path.basename(deb)), 'ab') as f:
                f.write(b'\0')
        rel = ('Origin: Debian\nLabel: Debian\nSuite: %s\nCodename: %s\n'
               'Date: Tue, 01 Dec 2026 00:00:00 UTC\nArchitectures: amd64\nComponents: main\n'
               'SHA256:\n %s %d main/binary-amd64/Packages\n'
               % (suite, suite, hashlib.sha256(pk).hexdigest(), len(pk)))
        with open(os.path.join(dist, 'Release'), 'w') as f:
            f.write(rel)
        self.gpg('--clearsign', '-o', os.path.join(dist, 'InRelease'), os.path.join(dist, 'Release'))
        with open(self.keyring, 'wb') as f:
            f.write(self.gpg('--export').stdout)
        for d, _, files in os.walk(self.archive):
            os.chmod(d, 0o755)
            for n in files:
                os.chmod(os.path.join(d, n), 0o644)

    def fetch(self):
        return run_fetch(self.root, self.dest, env=self.env)

    def test_fetches_verifies_and_unpacks(self):
        self.publish()
        rc, _, err = self.fetch()
        self.assertEqual(rc, 0, err)
        with open(os.path.join(self.dest, '.gmempv-pristine')) as f:
            self.assertEqual(f.read().strip(), '7.3.99')
        self.assertIn("against the archive's Packages", err)
        # nothing left beside the tree
        self.assertEqual(os.listdir(os.path.dirname(self.dest)), ['linux-7.3'])

    def test_no_sources_no_shared(self):
        # The case of issue 15: no ../shared, no /etc/apt/sources.list.
        os.unlink(os.path.join(self.root.root, 'etc/apt/sources.list.d/debian.sources'))
        open(self.keyring, 'w').close()
        self.assertFailsSaying(self.fetch(), 'apt has no enabled sources')
        self.assertFalse(os.path.exists(self.dest))

    def test_mirror_without_backports(self):
        self.publish(suite='trixie')
        self.assertFailsSaying(self.fetch(), 'no mirror served a signed trixie-backports',
                               'file:' + self.archive)
        self.assertFalse(os.path.exists(self.dest))

    def test_signed_by_another_key(self):
        self.publish()
        with open(self.keyring, 'wb') as f:     # a keyring without the archive's key
            f.write(b'')
        self.assertFailsSaying(self.fetch(), 'no mirror served a signed trixie-backports')

    def test_no_keyring(self):
        self.env['GMEMPV_DEBIAN_KEYRING'] = os.path.join(self.tmp, 'none.gpg')
        self.assertFailsSaying(self.fetch(), "Debian's archive keyring", 'none.gpg is missing')

    def test_deb_does_not_match_archive(self):
        self.publish(tamper=True)
        self.assertFailsSaying(self.fetch(), 'download of linux-source-7.3 7.3.99-1~bpo13+1',
                               'failed')
        self.assertFalse(os.path.exists(self.dest))

    def test_package_missing(self):
        self.publish()
        pk = os.path.join(self.archive, 'dists/trixie-backports/main/binary-amd64/Packages')
        open(pk, 'w').close()
        dist = os.path.dirname(os.path.dirname(os.path.dirname(pk)))
        with open(os.path.join(dist, 'Release')) as f:
            rel = f.read()
        rel = re.sub(r' [0-9a-f]{64} \d+ ', ' %s 0 ' % hashlib.sha256(b'').hexdigest(), rel)
        with open(os.path.join(dist, 'Release'), 'w') as f:
            f.write(rel)
        os.unlink(os.path.join(dist, 'InRelease'))
        self.gpg('--clearsign', '-o', os.path.join(dist, 'InRelease'), os.path.join(dist, 'Release'))
        os.chmod(os.path.join(dist, 'InRelease'), 0o644)
        self.assertFailsSaying(self.fetch(), 'linux-source-7.3 is not in trixie-backports')


CASES = (Mirrors, Download)


def main():
    sys.path.insert(0, os.path.dirname(__file__))
    import run
    return run.tap(CASES)


if __name__ == '__main__':
    sys.exit(main())
