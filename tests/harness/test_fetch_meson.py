#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of scripts/fetch-meson.sh, offline: a small fake meson .deb
(built with dpkg-deb) is given as GMEMPV_MESON_DEB.  A good one ends in a
venv whose Python sees that meson, as QEMU's configure will; one older
than QEMU 10.0 accepts, or one without the meson package inside, ends
with one 'fetch-meson: error:' line and leaves nothing behind.  Prints TAP
when run alone; tests/harness/run.py runs it in `make check`."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FETCH = os.path.join(TOP, 'scripts', 'fetch-meson.sh')
HAVE_TOOLS = all(shutil.which(t) for t in ('dpkg-deb', 'python3'))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def fake_deb(where, version, with_package=True):
    """A meson .deb laid out as Debian's: usr/lib/python3/dist-packages."""
    root = os.path.join(where, 'pkg-' + version)
    upstream = version.split('-')[0]
    pkgs = os.path.join(root, 'usr', 'lib', 'python3', 'dist-packages')
    if with_package:
        write(os.path.join(pkgs, 'mesonbuild', '__init__.py'), '')
        write(os.path.join(pkgs, 'mesonbuild', 'mesonmain.py'),
              'def main():\n    print("fake meson")\n')
    egg = os.path.join(pkgs, 'meson-%s.egg-info' % upstream)
    write(os.path.join(egg, 'PKG-INFO'),
          'Metadata-Version: 2.1\nName: meson\nVersion: %s\n' % upstream)
    write(os.path.join(egg, 'entry_points.txt'),
          '[console_scripts]\nmeson = mesonbuild.mesonmain:main\n')
    write(os.path.join(root, 'DEBIAN', 'control'),
          'Package: meson\nVersion: %s\nArchitecture: all\n'
          'Maintainer: test <test@example.org>\nDescription: fake meson\n' % version)
    deb = os.path.join(where, 'meson_%s_all.deb' % version)
    subprocess.run(['dpkg-deb', '--root-owner-group', '-b', root, deb],
                   check=True, stdout=subprocess.DEVNULL)
    return deb


@unittest.skipUnless(HAVE_TOOLS, 'needs dpkg-deb and python3')
class FetchMeson(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.dest = os.path.join(self.tmp, 'tools', 'meson')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_fetch(self, deb):
        e = dict(os.environ, GMEMPV_MESON_DEB=deb)
        p = subprocess.run([FETCH, self.dest], env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        return p.returncode, p.stderr

    def assertError(self, rc, err, text):
        self.assertNotEqual(rc, 0, err)
        lines = [l for l in err.splitlines() if l.startswith('fetch-meson: error:')]
        self.assertEqual(len(lines), 1, err)
        self.assertIn(text, lines[0])
        self.assertFalse(os.path.exists(self.dest), 'a failed fetch left a meson')
        left = [n for n in os.listdir(os.path.dirname(self.dest)) if n.startswith('.meson')]
        self.assertEqual(left, [], 'a failed fetch left its temporary directory')

    def test_venv_sees_the_unpacked_meson(self):
        rc, err = self.run_fetch(fake_deb(self.tmp, '1.7.0-1~bpo12+1'))
        self.assertEqual(rc, 0, err)
        py = os.path.join(self.dest, 'venv', 'bin', 'python3')
        # QEMU's configure makes its pyvenv from this venv's python, as
        # python/scripts/mkvenv.py does: a venv of the base python whose
        # nested.pth names the parent venv's site-packages.  There mkvenv
        # asks for the distribution's version and entry point.
        nested = os.path.join(self.tmp, 'pyvenv')
        subprocess.run([py, '-m', 'venv', '--system-site-packages', '--without-pip', nested],
                       check=True)
        q = ('import sysconfig; print(sysconfig.get_path("purelib"))')
        parent = subprocess.run([py, '-c', q], stdout=subprocess.PIPE,
                                universal_newlines=True, check=True).stdout.strip()
        ours = subprocess.run([os.path.join(nested, 'bin', 'python3'), '-c', q],
                              stdout=subprocess.PIPE, universal_newlines=True,
                              check=True).stdout.strip()
        write(os.path.join(ours, 'nested.pth'), parent + '\n')
        p = subprocess.run([os.path.join(nested, 'bin', 'python3'), '-c',
                            'import importlib.metadata as m; d = m.distribution("meson"); '
                            'print(d.version, [e.value for e in d.entry_points])'],
                           cwd='/', stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        self.assertEqual(p.stdout.strip(), "1.7.0 ['mesonbuild.mesonmain:main']")
        with open(os.path.join(self.dest, '.gmempv-meson')) as f:
            self.assertEqual(f.read().strip(), '1.7.0-1~bpo12+1')
        # Done once: a second run leaves it alone.
        rc, err = self.run_fetch('/nonexistent.deb')
        self.assertEqual(rc, 0, err)

    def test_too_old_meson_is_refused(self):
        rc, err = self.run_fetch(fake_deb(self.tmp, '1.0.1-5'))
        self.assertError(rc, err, 'meson 1.0.1-5 is too old, QEMU 10.0 needs >= 1.5')

    def test_deb_without_mesonbuild_is_refused(self):
        rc, err = self.run_fetch(fake_deb(self.tmp, '1.7.0-1', with_package=False))
        self.assertError(rc, err, 'has no usr/lib/python3/dist-packages/mesonbuild')


CASES = (FetchMeson,)

if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from run import tap
    sys.exit(tap(CASES))
