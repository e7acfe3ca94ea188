#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Tests of scripts/summarize.py: a wrong count here would make `make check`
lie, so every rule of its docstring has a case.  Prints TAP."""

import contextlib
import io
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'scripts'))
import summarize  # noqa: E402


def run(results, console=''):
    out = io.StringIO()
    return summarize.summarize(results, console, out=out), out.getvalue()


def framed(*suites, done=True):
    text = 'GMEMPV-BEGIN check\n'
    for name, body, rc in suites:
        text += 'GMEMPV-SUITE-BEGIN %s\n%sGMEMPV-SUITE-END %s rc=%d\n' % (name, body, name, rc)
    return text + ('GMEMPV-DONE\n' if done else '')


KUNIT = """KTAP version 1
1..1
    KTAP version 1
    # Subtest: gmem_pv_range
    # module: gmem_pv_range_test
    1..3
    ok 1 hint_for_alignment
        KTAP version 1
        # Subtest: next_chunk_splits
        ok 1 one page
        ok 2 one aligned 2M
    # next_chunk_splits: pass:2 fail:0 skip:0 total:2
    ok 2 next_chunk_splits
    %s 3 contig_runs
# gmem_pv_range: pass:2 fail:1 skip:0 total:3
%s 1 gmem_pv_range
"""

KSFT = """TAP version 13
1..3
# Starting 3 tests
ok 1 create
ok 2 mmap # SKIP no THP
%s 3 convert
# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0
"""


class Counting(unittest.TestCase):
    def test_all_pass(self):
        (p, f, s), _ = run(framed(('kunit/gmem_pv_range', KUNIT % ('ok', 'ok'), 0),
                                  ('upstream/plain', 'hello\n', 0)))
        # 3 KUnit cases + 1 plain suite + the kernel-log case
        self.assertEqual((p, f, s), (5, 0, 0))

    def test_kunit_case_failure_counts_once(self):
        (p, f, s), out = run(framed(('kunit/gmem_pv_range', KUNIT % ('not ok', 'not ok'), 0)))
        self.assertEqual((p, f), (3, 1))
        self.assertIn('not ok: contig_runs', out)

    def test_kselftest_skip_is_not_a_pass(self):
        (p, f, s), _ = run(framed(('upstream/gm', KSFT % 'ok', 0)))
        self.assertEqual((p, f, s), (3, 0, 1))

    def test_kselftest_failure(self):
        (p, f, s), _ = run(framed(('upstream/gm', KSFT % 'not ok', 1)))
        self.assertEqual((p, f, s), (2, 1, 1))

    def test_plain_suite_exit_status(self):
        (p, f, s), out = run(framed(('a', '', 0), ('b', 'boom\n', 1)))
        self.assertEqual((p, f), (2, 1))
        self.assertIn('exit status 1', out)

    def test_whole_suite_skip_fails_required_suite(self):
        (p, f, s), out = run(framed(('a', 'no SVM\n', 4)))
        self.assertEqual((p, f, s), (1, 1, 1))
        self.assertIn('required suite skipped', out)

    def test_timeout(self):
        (p, f, s), out = run(framed(('a', 'ok 1 x\n', 137)))
        self.assertEqual(f, 1)
        self.assertIn('timeout', out)

    def test_rc_disagrees_with_results(self):
        (p, f, s), out = run(framed(('a', '1..1\nok 1 x\n', 2)))
        self.assertEqual(f, 1)
        self.assertIn('every result was ok', out)

    def test_short_plan(self):
        (p, f, s), out = run(framed(('a', '1..3\nok 1 x\nok 2 y\n', 0)))
        self.assertEqual((p, f), (3, 1))
        self.assertIn('plan said 3', out)

    def test_suite_never_ended(self):
        text = 'GMEMPV-BEGIN check\nGMEMPV-SUITE-BEGIN a\nok 1 x\n'
        (p, f, s), out = run(text)
        self.assertEqual(f, 2)          # the suite, and no DONE marker
        self.assertIn('did not end', out)
        self.assertIn('did not finish', out)

    def test_nothing_ran(self):
        (p, f, s), out = run('')
        self.assertEqual((p, f), (0, 1))
        self.assertIn('never started', out)

    def test_not_selected_is_skipped(self):
        text = framed(('a', '', 0)).replace('GMEMPV-DONE', 'GMEMPV-SUITE-NOT-SELECTED b\nGMEMPV-DONE')
        out = io.StringIO()
        p, f, s = summarize.summarize(text, '', out=out, expected=['a', 'b'])
        self.assertEqual((p, f, s), (2, 0, 1))
        self.assertIn('not a full check', out.getvalue())

    def test_listed_suite_that_never_ran_fails(self):
        out = io.StringIO()
        p, f, s = summarize.summarize(framed(('a', '', 0)), '', out=out,
                                      expected=summarize.expected_suites(
                                          '# c\n@kvm x=1\na 10 kvm/a\nb 10 kvm/b\n'))
        self.assertEqual(f, 1)
        self.assertIn('never reported', out.getvalue())

    def test_last_line_format(self):
        _, out = run(framed(('a', '', 0)))
        self.assertRegex(out.splitlines()[-1], r'^\d+ passed, \d+ failed, \d+ skipped$')


SMP_CONF = '@kvm gmem_in_place_conversion=1\nr@smp 600 kvm/r -t race\ne2e/l@smp 900 vmm/e2e.sh l\n'


def smp_boot(results):
    return [('smp', results, '', summarize.expected_suites(SMP_CONF))]


class TwoBoots(unittest.TestCase):
    """make check's second boot (tests/suites-smp.conf) counts with the first."""

    def boots(self, second, console='', only=None, expected=()):
        out = io.StringIO()
        counts = summarize.summarize(framed(('a', '', 0)), '', out=out, expected=expected,
                                     boots=[('smp', second, console,
                                             summarize.expected_suites(SMP_CONF))],
                                     only=only)
        return counts, out.getvalue()

    def test_both_pass_one_total(self):
        (p, f, s), out = self.boots(framed(('r@smp', '1..1\nok 1 race\n', 0),
                                           ('e2e/l@smp', '', 0)))
        # a + kernel-log, r@smp + e2e/l@smp + kernel-log@smp
        self.assertEqual((p, f, s), (5, 0, 0))
        self.assertIn('kernel-log@smp', out)
        self.assertEqual(out.count('passed,'), 1)

    def test_missing_second_boot_fails(self):
        (p, f, s), out = self.boots('')
        self.assertEqual((p, f, s), (2, 1, 0))
        self.assertIn('never started', out)

    def test_unfinished_second_boot_fails(self):
        (p, f, s), out = self.boots(framed(('r@smp', '1..1\nok 1 race\n', 0), done=False))
        self.assertGreaterEqual(f, 2)     # e2e/l@smp never reported, no DONE
        self.assertIn('did not finish', out)
        self.assertIn('never reported', out)

    def test_second_boot_suite_failure(self):
        (p, f, s), out = self.boots(framed(('r@smp', '1..1\nnot ok 1 race\n', 1),
                                           ('e2e/l@smp', '', 0)))
        self.assertEqual(f, 1)
        self.assertIn('not ok: race', out)

    def test_splat_in_second_boot(self):
        console = 'gmem-pv-init: suite r@smp: start\nBUG: KASAN: use-after-free in x\n'
        (p, f, s), out = self.boots(framed(('r@smp', '1..1\nok 1 race\n', 0),
                                           ('e2e/l@smp', '', 0)), console)
        self.assertEqual(f, 1)
        self.assertIn('splat during r@smp', out)

    def test_boot_left_out_when_nothing_selected(self):
        (p, f, s), out = self.boots('', only='a')
        self.assertEqual((p, f, s), (2, 0, 2))
        self.assertIn('its boot left out', out)

    def test_missing_boot_fails_when_something_selected(self):
        (p, f, s), out = self.boots('', only='a,e2e/*')
        self.assertEqual(f, 1)
        self.assertIn('never started', out)

    def test_first_boot_never_left_out(self):
        out = io.StringIO()
        p, f, s = summarize.summarize('', '', out=out, expected=['a'], only='r@smp')
        self.assertEqual(f, 1)
        self.assertIn('never started', out.getvalue())

    def test_selection_globs_as_init(self):
        self.assertTrue(summarize.selected('gmem_pv/gmem_huge_test@smp', 'gmem_pv/*'))
        self.assertTrue(summarize.selected('x', None))
        self.assertTrue(summarize.selected('e2e/l@smp', 'a,*@smp'))
        self.assertFalse(summarize.selected('e2e/l@smp', 'gmem_pv/*,upstream/*'))

    def test_empty_filter_result_fails(self):
        # a -t NAME that matches no case: the harness prints an empty plan
        (p, f, s), out = self.boots(framed(('r@smp', 'TAP version 13\n1..0\n', 0),
                                           ('e2e/l@smp', '', 0)))
        self.assertEqual(f, 1)
        self.assertIn('plan of 0', out)

    def test_command_line(self):
        d = tempfile.mkdtemp()
        conf = os.path.join(d, 'smp.conf')
        res = os.path.join(d, 'res')
        with open(conf, 'w') as f:
            f.write(SMP_CONF)
        with open(res, 'w') as f:
            f.write(framed(('a', '', 0)))
        env = os.environ.pop('GMEMPV_ONLY', None)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(summarize.main(['s', res, '/nonexistent']), 0)
                # the second boot's logs are missing: a failure
                self.assertEqual(summarize.main(['s', res, '/nonexistent', '--boot', 'smp',
                                                 os.path.join(d, 'none'), '/nonexistent',
                                                 conf]), 1)
            self.assertEqual(summarize.main(['s', '--any-selected', conf]), 0)
            os.environ['GMEMPV_ONLY'] = 'upstream/*'
            self.assertEqual(summarize.main(['s', '--any-selected', conf]), 1)
            os.environ['GMEMPV_ONLY'] = 'upstream/*,*@smp'
            self.assertEqual(summarize.main(['s', '--any-selected', conf]), 0)
        finally:
            os.environ.pop('GMEMPV_ONLY', None)
            if env is not None:
                os.environ['GMEMPV_ONLY'] = env



class TwoVcpuGuestsPinned(unittest.TestCase):
    """tests/vmm/e2e.sh runs every 2-vCPU guest on one L1 CPU (build-and-test.rst,
    "Two-vCPU guests run on one L1 CPU")."""

    def test_each_two_vcpu_run_is_pinned(self):
        path = os.path.join(os.path.dirname(__file__), '..', 'vmm', 'e2e.sh')
        with open(path) as f:
            text = f.read()
        funcs = re.findall(r'^(\w+)\(\) \{\n(.*?)^\}', text, re.M | re.S)
        two = [(n, b) for n, b in funcs if re.search(r'run_vmm .*-s 2\b', b)]
        self.assertTrue(two)
        for name, body in two:
            first = body.index('run_vmm')
            self.assertIn('pin_to_one_l1_cpu', body[:first], name)

class Splats(unittest.TestCase):
    def test_clean_log(self):
        (p, f, s), _ = run(framed(('a', '', 0)), 'Linux version 7.3.4\nkvm_amd: Nested Paging enabled\n')
        self.assertEqual(f, 0)

    def test_warn_blamed_on_running_suite(self):
        console = ('gmem-pv-init: suite upstream/x: start\n'
                   '------------[ cut here ]------------\n'
                   'WARNING: CPU: 1 PID: 80 at arch/x86/kvm/mmu/mmu.c:100 foo+0x1/0x2 [kvm]\n'
                   'Call Trace:\n <TASK>\n</TASK>\n---[ end trace 0000000000000000 ]---\n')
        (p, f, s), out = run(framed(('upstream/x', '', 0)), console)
        self.assertEqual(f, 1)
        self.assertIn('splat during upstream/x', out)

    def test_each_kind(self):
        for line in ('BUG: KASAN: slab-out-of-bounds in kvm_gmem_foo+0x10/0x20',
                     'WARNING: possible circular locking dependency detected',
                     'UBSAN: shift-out-of-bounds in virt/kvm/guest_memfd.c:12:3',
                     'BUG: sleeping function called from invalid context at mm/x.c:1',
                     'Oops: general protection fault, probably for non-canonical address',
                     'Kernel panic - not syncing: Fatal exception',
                     'rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:'):
            with self.subTest(line=line):
                (p, f, s), _ = run(framed(('a', '', 0)), line + '\n')
                self.assertEqual(f, 1)

    def test_bare_stack_dump(self):
        (p, f, s), out = run(framed(('a', '', 0)), 'CPU: 0 PID: 1\nCall Trace:\n <TASK>\n')
        self.assertEqual(f, 1)
        self.assertIn('stack dump', out)


def main():
    loader = unittest.TestLoader()
    tests = [t for c in (Counting, TwoBoots, Splats) for t in loader.loadTestsFromTestCase(c)]
    print('TAP version 13')
    print('1..%d' % len(tests))
    failed = 0
    for i, t in enumerate(tests, 1):
        r = unittest.TestResult()
        t.run(r)
        if r.wasSuccessful():
            print('ok %d %s' % (i, t.id().split('.', 1)[1]))
        else:
            failed += 1
            print('not ok %d %s' % (i, t.id().split('.', 1)[1]))
            for _, tb in r.failures + r.errors:
                for line in tb.splitlines():
                    print('# ' + line)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
