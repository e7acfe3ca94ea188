#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of scripts/fetch-qemu.sh, offline: a small fake QEMU tree stands in
for the source, packed as Debian's orig and debian tarballs with a
SHA256SUMS beside them (the pinned copy) or given as GMEMPV_QEMU_SRC.  Each
case either gets the right tree, with exactly the Debian patches it needs,
or ends with one 'fetch-qemu: error:' line saying what is wrong.  Prints
TAP when run alone; tests/harness/run.py runs it in `make check`."""

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FETCH = os.path.join(TOP, 'scripts', 'fetch-qemu.sh')
ORIG = 'qemu_10.0.13+ds.orig.tar.xz'
DEBIAN = 'qemu_10.0.13+ds-0+deb13u1.debian.tar.xz'

PYTHONDEPS = ('[meson]\n'
              'meson = { accepted = ">=1.5.0", installed = "1.5.0", canary = "meson" }\n'
              'pycotap = { accepted = ">=1.1.0", installed = "1.3.1" }\n')
PC_BIOS = "roms = []\nif unpack_edk2_blobs\n  fds = []\nendif\n"


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)


def fake_tree(where, version='10.0.13', upstream=False):
    """A QEMU-like tree: Debian's +ds one, or with upstream's wheel and blobs."""
    t = os.path.join(where, 'qemu-' + version)
    write(os.path.join(t, 'VERSION'), version + '\n')
    write(os.path.join(t, 'configure'), '#!/bin/sh\n', 0o755)
    write(os.path.join(t, 'pythondeps.toml'), PYTHONDEPS)
    write(os.path.join(t, 'pc-bios', 'meson.build'), PC_BIOS)
    if upstream:
        write(os.path.join(t, 'python', 'wheels', 'pycotap-1.3.1-py3-none-any.whl'), 'wheel')
        write(os.path.join(t, 'pc-bios', 'edk2-x86_64-code.fd.bz2'), 'blob')
    return t


def patch_text(path, old, new):
    """A -p1 patch of one file, with a description, as Debian's are."""
    d = tempfile.mkdtemp()
    write(os.path.join(d, 'old'), old)
    write(os.path.join(d, 'new'), new)
    p = subprocess.run(['diff', '-u', '--label', 'a/' + path, '--label', 'b/' + path,
                        os.path.join(d, 'old'), os.path.join(d, 'new')],
                       stdout=subprocess.PIPE, universal_newlines=True)
    subprocess.run(['rm', '-rf', d])
    return 'Subject: test\n\n' + p.stdout


def debian_tarball(path):
    d = tempfile.mkdtemp()
    write(os.path.join(d, 'debian', 'patches', 'disable-pycotap.patch'),
          patch_text('pythondeps.toml', PYTHONDEPS,
                     PYTHONDEPS.replace('pycotap =', '#pycotap =')))
    write(os.path.join(d, 'debian', 'patches', 'skip-unpack-edk2-blobs.patch'),
          patch_text('pc-bios/meson.build', PC_BIOS,
                     PC_BIOS.replace('if unpack_edk2_blobs', 'if unpack_edk2_blobs and false')))
    write(os.path.join(d, 'debian', 'patches', 'series'),
          'disable-pycotap.patch\nskip-unpack-edk2-blobs.patch\n')
    with tarfile.open(path, 'w:xz') as t:
        t.add(os.path.join(d, 'debian'), 'debian')
    subprocess.run(['rm', '-rf', d])


def pack(tree, path):
    with tarfile.open(path, 'w:xz') as t:
        t.add(tree, os.path.basename(tree))


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class FetchQemu(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.shared = os.path.join(self.tmp, 'shared')
        os.makedirs(self.shared)
        self.dest = os.path.join(self.tmp, 'build', 'qemu-10.0.13')

    def tearDown(self):
        subprocess.run(['rm', '-rf', self.tmp])

    def pinned(self, sums=None):
        src = fake_tree(os.path.join(self.tmp, 'src'))
        pack(src, os.path.join(self.shared, ORIG))
        debian_tarball(os.path.join(self.shared, DEBIAN))
        if sums is None:
            sums = {n: sha256(os.path.join(self.shared, n)) for n in (ORIG, DEBIAN)}
        # sums={}: the debian tarball listed, the orig tarball not
        if not sums:
            sums = {DEBIAN: sha256(os.path.join(self.shared, DEBIAN))}
        write(os.path.join(self.shared, 'SHA256SUMS'),
              ''.join('%s  %s\n' % (s, n) for n, s in sums.items()))

    def run_fetch(self, **env):
        e = dict(os.environ)
        for k in ('GMEMPV_QEMU_SRC', 'GMEMPV_QEMU_DEBIAN', 'GMEMPV_DEBIAN_MIRROR'):
            e.pop(k, None)
        e['GMEMPV_SHARED_QEMU'] = self.shared
        e.update(env)
        p = subprocess.run([FETCH, self.dest], env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        return p.returncode, p.stderr

    def read(self, rel):
        with open(os.path.join(self.dest, rel)) as f:
            return f.read()

    def assertError(self, rc, err, text):
        self.assertNotEqual(rc, 0, err)
        lines = [l for l in err.splitlines() if l.startswith('fetch-qemu: error:')]
        self.assertEqual(len(lines), 1, err)
        self.assertIn(text, lines[0])
        self.assertFalse(os.path.exists(self.dest), 'a failed fetch left a tree')
        left = [n for n in os.listdir(os.path.dirname(self.dest)) if n.startswith('.fetch')]
        self.assertEqual(left, [], 'a failed fetch left its temporary directory')

    def test_pinned_tree_gets_the_two_debian_patches(self):
        self.pinned()
        rc, err = self.run_fetch()
        self.assertEqual(rc, 0, err)
        self.assertIn('#pycotap =', self.read('pythondeps.toml'))
        self.assertIn('if unpack_edk2_blobs and false', self.read('pc-bios/meson.build'))
        stamp = self.read('.gmempv-pristine').splitlines()
        self.assertEqual(stamp[0], '10.0.13')
        self.assertEqual(sorted(stamp[1].split()[1:]),
                         ['disable-pycotap.patch', 'skip-unpack-edk2-blobs.patch'])

    def test_pinned_checksum_mismatch_is_refused(self):
        self.pinned()
        # the orig tarball changed after SHA256SUMS was written
        with open(os.path.join(self.shared, ORIG), 'ab') as f:
            f.write(b'\0')
        rc, err = self.run_fetch()
        self.assertError(rc, err, 'checksum mismatch for %s/%s' % (self.shared, ORIG))

    def test_pinned_file_not_listed_is_refused(self):
        self.pinned(sums={})
        rc, err = self.run_fetch()
        self.assertError(rc, err, ORIG + ' is not listed in')

    def test_upstream_tarball_is_used_unchanged(self):
        src = fake_tree(os.path.join(self.tmp, 'src'), upstream=True)
        tarball = os.path.join(self.tmp, 'qemu-10.0.13.tar.xz')
        pack(src, tarball)
        rc, err = self.run_fetch(GMEMPV_QEMU_SRC=tarball)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.read('pythondeps.toml'), PYTHONDEPS)
        self.assertEqual(self.read('pc-bios/meson.build'), PC_BIOS)
        self.assertEqual(self.read('.gmempv-pristine').splitlines()[1], 'debian-patches:')

    def test_tree_needing_patches_without_debian_tarball_is_refused(self):
        src = fake_tree(os.path.join(self.tmp, 'src'))
        rc, err = self.run_fetch(GMEMPV_QEMU_SRC=src)
        self.assertError(rc, err, 'no debian tarball is at hand')

    def test_wrong_version_is_refused(self):
        src = fake_tree(os.path.join(self.tmp, 'src'), version='9.2.0', upstream=True)
        rc, err = self.run_fetch(GMEMPV_QEMU_SRC=src)
        self.assertError(rc, err, "expected QEMU 10.0.13, got '9.2.0'")

    def test_missing_source_is_refused(self):
        rc, err = self.run_fetch(GMEMPV_QEMU_SRC=os.path.join(self.tmp, 'nothing'))
        self.assertError(rc, err, 'does not exist')


CASES = (FetchQemu,)

if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from run import tap
    sys.exit(tap(CASES))
