#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of scripts/make-patches.py on a small fake project and pristine
tree: the series must give exactly the tree scripts/prepare-tree.sh makes,
a file or hook patch in no patch (or in two) must stop it, naming it, and
the check must fail on a hand-edited tree and on a checkpatch report that
the allow-list does not explain.  checkpatch.pl is a fake that reports
lines containing BADSTYLE.  Prints TAP when run alone; tests/harness/run.py
runs it in `make check`."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SCRIPT = os.path.join(TOP, 'scripts', 'make-patches.py')
HAVE_TOOLS = all(shutil.which(t) for t in ('git', 'patch', 'perl'))

FAKE_CHECKPATCH = r'''#!/usr/bin/perl
# Fake checkpatch.pl: one WARNING per added line containing BADSTYLE.
my $f = $ARGV[-1];
open(my $fh, '<', $f) or die;
my $n = 0;
while (<$fh>) {
	$n++;
	print "$f:$n: WARNING:FAKE_STYLE: BADSTYLE here\n" if /^\+.*BADSTYLE/;
}
'''

HOOK = '''From: gmem-pv developers <gmem-pv@localhost>
Subject: [PATCH] kconfig: source the fake options

Source the project's Kconfig so that its options exist.

---
--- a/Kconfig
+++ b/Kconfig
@@ -1,2 +1,4 @@
 mainmenu "Fake"
 source "init/Kconfig"
+
+source "gmem-pv/Kconfig"
'''

CONF = '''# test conf
cover: fake: a fake series
\tA fake project, for the harness.

patch: kconfig: the fake menu
files:\tKconfig
hooks:\t0001-kconfig-source-fake.patch
body-from: 0001-kconfig-source-fake.patch

patch: virt: the fake driver
files:\tguest/drivers/virt/gmem/a.c
\tinclude/uapi/linux/kvm_gmem_pv.h
body:
\tThe driver, because the fake project needs one.

\tA second paragraph.
'''


def write(path, text, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    if mode:
        os.chmod(path, mode)


class Project:
    """A fake project (scripts, overlay files, a hook patch) and a pristine
    tree, in a temporary directory."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.top = os.path.join(tmp, 'proj')
        self.pristine = os.path.join(tmp, 'pristine')
        self.prepared = os.path.join(tmp, 'prepared')
        shutil.copy(os.path.join(TOP, 'scripts', 'prepare-tree.sh'),
                    os.path.join(self.mk('scripts'), 'prepare-tree.sh'))
        self.file('scripts/patches.conf', CONF)
        self.file('patches/series', '0001-kconfig-source-fake.patch\n')
        self.file('patches/0001-kconfig-source-fake.patch', HOOK)
        self.file('Kconfig', 'config FAKE\n\tbool "fake"\n')
        self.file('guest/drivers/virt/gmem/a.c', '// SPDX-License-Identifier: GPL-2.0\nint a;\n')
        self.file('include/uapi/linux/kvm_gmem_pv.h', '#define KVM_CAP_FAKE 1\n')
        write(os.path.join(self.pristine, '.gmempv-pristine'), '7.3.0\n')
        write(os.path.join(self.pristine, 'Kconfig'), 'mainmenu "Fake"\nsource "init/Kconfig"\n')
        write(os.path.join(self.pristine, 'init', 'Kconfig'), 'config INIT\n\tbool\n')
        write(os.path.join(self.pristine, 'drivers', 'virt', 'Makefile'), 'obj-y += x.o\n')
        write(os.path.join(self.pristine, '.gitignore'), '*.o\n')
        write(os.path.join(self.pristine, 'ignored.o'), 'in the tarball, ignored by git\n')
        write(os.path.join(self.pristine, 'scripts', 'checkpatch.pl'), FAKE_CHECKPATCH, 0o755)

    def mk(self, d):
        p = os.path.join(self.top, d)
        os.makedirs(p, exist_ok=True)
        return p

    def file(self, rel, text):
        write(os.path.join(self.top, rel), text)

    def prepare(self):
        if os.path.exists(self.prepared):
            shutil.rmtree(self.prepared)
        shutil.copytree(self.pristine, self.prepared, symlinks=True)
        subprocess.run(['bash', os.path.join(self.top, 'scripts', 'prepare-tree.sh'),
                        self.prepared], check=True, stdout=subprocess.DEVNULL)

    def run(self, *args):
        p = subprocess.run([sys.executable, SCRIPT, '--top', self.top,
                            '--pristine', self.pristine, '--prepared', self.prepared,
                            '--out', os.path.join(self.tmp, 'out'),
                            '--git', os.path.join(self.tmp, 'git')] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
        return p.returncode, p.stdout, p.stderr


class MakePatches(unittest.TestCase):
    def setUp(self):
        if not HAVE_TOOLS:
            self.skipTest('needs git, patch and perl')
        tmp = tempfile.mkdtemp(prefix='gmempv-patches-')
        self.addCleanup(shutil.rmtree, tmp)
        self.p = Project(tmp)

    def assertFailsSaying(self, result, *words):
        rc, out, err = result
        self.assertNotEqual(rc, 0, out + err)
        self.assertIn('make-patches: error: ', err)
        for w in words:
            self.assertIn(w, err)

    def tap(self, out):
        return [l for l in out.splitlines() if l.startswith(('ok ', 'not ok '))]

    def test_series_is_the_prepared_tree(self):
        self.p.prepare()
        rc, out, err = self.p.run('--check')
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.tap(out), ['ok 1 series_built', 'ok 2 git_am_applies',
                                         'ok 3 tree_matches_overlay', 'ok 4 checkpatch_strict'])
        names = sorted(os.listdir(os.path.join(self.p.tmp, 'out')))
        self.assertEqual(names, ['0000-cover-letter.patch',
                                 '0001-kconfig-the-fake-menu.patch',
                                 '0002-virt-the-fake-driver.patch'])
        p1 = open(os.path.join(self.p.tmp, 'out', names[1])).read()
        self.assertIn('Source the project\'s Kconfig', p1)
        self.assertIn('Signed-off-by: gmem-pv developers <gmem-pv@localhost>', p1)
        self.assertIn('+++ b/gmem-pv/Kconfig', p1)
        self.assertIn('+++ b/Kconfig', p1)
        p2 = open(os.path.join(self.p.tmp, 'out', names[2])).read()
        self.assertIn('+++ b/drivers/virt/gmem/a.c', p2)
        self.assertIn('A second paragraph.', p2)
        cover = open(os.path.join(self.p.tmp, 'out', names[0])).read()
        self.assertIn('Subject: [PATCH 0/2] fake: a fake series', cover)
        self.assertIn('KVM_CAP_FAKE', cover)
        self.assertNotIn('*** ', cover)

    def test_file_in_no_patch(self):
        self.p.file('guest/drivers/virt/gmem/b.c', 'int b;\n')
        self.assertFailsSaying(self.p.run(), 'file guest/drivers/virt/gmem/b.c is in no patch')

    def test_file_in_two_patches(self):
        conf = CONF + '\npatch: again\nfiles:\tKconfig\nbody:\n\tAgain.\n'
        self.p.file('scripts/patches.conf', conf)
        self.assertFailsSaying(self.p.run(), 'file Kconfig is in patch 1', 'and in patch 3')

    def test_hook_in_no_patch(self):
        self.p.file('patches/series', '0001-kconfig-source-fake.patch\n0002-more.patch\n')
        self.p.file('patches/0002-more.patch', HOOK)
        self.assertFailsSaying(self.p.run(), 'hook patch 0002-more.patch is in no patch')

    def test_listed_file_that_is_not_overlay(self):
        self.p.file('scripts/patches.conf', CONF.replace('files:\tKconfig', 'files:\tKconfig README'))
        self.assertFailsSaying(self.p.run(), 'README is not a file prepare-tree.sh lays')

    def test_unknown_key(self):
        self.p.file('scripts/patches.conf', CONF + 'hook: 0001-kconfig-source-fake.patch\n')
        self.assertFailsSaying(self.p.run(), "unknown key 'hook'")

    def test_hand_edited_tree_fails_the_check(self):
        self.p.prepare()
        write(os.path.join(self.p.prepared, 'init', 'Kconfig'), 'config INIT\n\tbool "edited"\n')
        write(os.path.join(self.p.prepared, 'stray.c'), 'int stray;\n')
        rc, out, err = self.p.run('--check')
        self.assertEqual(rc, 1, out + err)
        self.assertIn('not ok 3 tree_matches_overlay', out)
        self.assertIn('# M\tinit/Kconfig', out)
        self.assertIn('# D\tstray.c', out)

    def test_changed_overlay_file_needs_a_new_tree(self):
        self.p.prepare()
        # A project file whose link was never laid in (prepare not rerun).
        self.p.file('guest/drivers/virt/gmem/b.c', 'int b;\n')
        self.p.file('scripts/patches.conf', CONF.replace('\tinclude/uapi',
                                                         '\tguest/drivers/virt/gmem/b.c\n\tinclude/uapi'))
        rc, out, err = self.p.run('--check')
        self.assertEqual(rc, 1, out + err)
        self.assertIn('# A\tdrivers/virt/gmem/b.c', out)

    def test_checkpatch_report_fails_unless_allowed(self):
        self.p.file('guest/drivers/virt/gmem/a.c', 'int a; /* BADSTYLE */\n')
        self.p.prepare()
        rc, out, err = self.p.run('--check')
        self.assertEqual(rc, 1, out + err)
        self.assertIn('not ok 4 checkpatch_strict', out)
        self.assertIn('WARNING:FAKE_STYLE', out)
        self.p.file('scripts/patches-checkpatch.allow',
                    'WARNING:FAKE_STYLE  virt-the-fake-driver.patch  # the test allows it\n')
        rc, out, err = self.p.run('--check')
        self.assertEqual(rc, 0, out + err)
        self.assertIn('1 checkpatch --strict reports, 1 of them on the allow-list', out)

    def test_allow_entry_needs_a_reason(self):
        self.p.file('scripts/patches-checkpatch.allow', 'WARNING:FAKE_STYLE  *\n')
        self.assertFailsSaying(self.p.run(), 'want "TYPE:NAME PATCH-GLOB # why"')


CASES = (MakePatches,)

if __name__ == '__main__':
    import run
    sys.exit(run.tap(CASES))
