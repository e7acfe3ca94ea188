#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Count the test cases of a gmem-pv test-machine run.

    summarize.py RESULTS_LOG CONSOLE_LOG [SUITES_CONF]
                 [--boot TAG RESULTS_LOG CONSOLE_LOG SUITES_CONF]...
    summarize.py --any-selected SUITES_CONF

RESULTS_LOG is what L1's init wrote to ttyS1 (suites framed by GMEMPV-*
markers, see tests/initramfs/init); CONSOLE_LOG is the kernel log from ttyS0.
Each --boot adds the logs of one more L1 boot (make check's second boot,
under single-threaded TCG, is --boot smp), counted with the first into one
total; its kernel-log case is named kernel-log@TAG.  A missing or empty
RESULTS_LOG is a boot that never started.

--any-selected exits 0 if GMEMPV_ONLY (from the environment) is unset or
selects a suite that SUITES_CONF lists, 1 otherwise: make check boots a
second time only for a list that has something selected.

Counting, per test case:
  * A suite that prints TAP or KTAP counts its top-level results; a KUnit
    suite counts its test cases (a parameterised case is one case).
  * A suite that prints no TAP is one case: exit status 0 passes, 4 (KSFT_SKIP)
    skips, anything else fails.
  * A suite whose exit status or plan disagrees with its results gets one
    more failed case saying so; so does a suite that never ended.
  * Every suite here is required: a suite that skipped as a whole fails.
  * A kernel splat (WARN, BUG, oops, lockdep, KASAN, UBSAN, panic) anywhere in
    the console log is one failed case per splat, named after the suite that
    was running.
  * A run without the GMEMPV-DONE marker is one more failed case.
  * With SUITES_CONF, a suite it lists that neither ran nor was left out by
    GMEMPV_ONLY (GMEMPV-SUITE-NOT-SELECTED, counted as skipped) fails.
  * A TAP plan of 0 without SKIP (a -t filter that matched no test case) is
    a failure, not a pass.
  * A boot whose RESULTS_LOG is missing fails as one that never started,
    unless it is a --boot one and GMEMPV_ONLY selects none of its
    SUITES_CONF: then its suites are not selected (skipped).

Prints a line per suite and ends with 'N passed, N failed, N skipped'.
Exit status: 0 if nothing failed, 1 otherwise.
"""

import fnmatch
import os
import re
import sys

KSFT_SKIP = 4

TAP_RESULT = re.compile(r'^(?P<indent>\s*)(?P<ok>ok|not ok)\s+(?P<num>\d+)\b\s*-?\s*'
                        r'(?P<desc>[^#]*?)\s*(?:#\s*(?P<directive>.*))?$')
TAP_PLAN = re.compile(r'^(?P<indent>\s*)1\.\.(?P<n>\d+)(?:\s*#\s*(?P<directive>.*))?\s*$')

# The first line of each kind of kernel report.  KASAN reports start with
# "BUG: KASAN:", lockdep and RCU-lockdep reports with "WARNING:", RCU CPU
# stall reports with "rcu: INFO:".
SPLAT = re.compile(
    r'(\bWARNING: '
    r'|\bBUG: '
    r'|\bOops: '
    r'|Kernel panic - not syncing'
    r'|\bUBSAN: '
    r'|INFO: task .* blocked for more than'
    r'|\brcu: INFO: '
    r'|general protection fault)')
# A stack dump with no report line before it (dump_stack() from a path that
# should never run) counts too.
CALL_TRACE = re.compile(r'\bCall Trace:')
CALL_TRACE_WINDOW = 60
SUITE_MARK = re.compile(r'gmem-pv-init: suite (?P<name>\S+): start')


class Suite:
    def __init__(self, name):
        self.name = name
        self.lines = []
        self.rc = None
        self.secs = None
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.notes = []
        self.not_selected = False

    def fail(self, why):
        self.failed += 1
        self.notes.append(why)


def parse_results(text):
    """Split RESULTS_LOG into suites; return (suites, began, done)."""
    suites, cur = [], None
    began = done = False
    for raw in text.splitlines():
        line = raw.rstrip('\r')
        if line.startswith('GMEMPV-BEGIN'):
            began = True
        elif line.startswith('GMEMPV-DONE'):
            done = True
        elif line.startswith('GMEMPV-SUITE-NOT-SELECTED '):
            s = Suite(line.split(None, 1)[1].strip())
            s.skipped = 1
            s.notes.append('not selected (GMEMPV_ONLY): this is not a full check')
            s.not_selected = True
            suites.append(s)
        elif line.startswith('GMEMPV-SUITE-BEGIN '):
            cur = Suite(line.split(None, 1)[1].strip())
            suites.append(cur)
        elif line.startswith('GMEMPV-SUITE-END '):
            fields = line.split()
            if cur is None or fields[1] != cur.name:
                s = Suite(fields[1])
                s.fail('end marker without a begin marker')
                suites.append(s)
                continue
            for f in fields[2:]:
                if f.startswith('rc='):
                    cur.rc = int(f[3:])
                elif f.startswith('secs='):
                    cur.secs = int(f[5:])
            cur = None
        elif cur is not None:
            cur.lines.append(line)
    return suites, began, done


def tap_level(lines):
    """The indentation of a suite's outermost TAP results, or None."""
    indents = [len(m.group('indent')) for m in map(TAP_RESULT.match, lines) if m]
    return min(indents) if indents else None


def count_suite(s, kunit):
    """Fill in s.passed/failed/skipped from its lines and exit status."""
    level = tap_level(s.lines)
    if kunit and level is not None:
        # KUnit: the outermost line is the suite itself; count its cases.
        inner = [len(m.group('indent')) for m in map(TAP_RESULT.match, s.lines)
                 if m and len(m.group('indent')) > level]
        if inner:
            level = min(inner)

    plan = None
    results = 0
    for line in s.lines:
        m = TAP_PLAN.match(line)
        if m and len(m.group('indent')) == (level or 0) and plan is None:
            plan = int(m.group('n'))
            if plan == 0:
                if m.group('directive') and \
                        m.group('directive').upper().startswith('SKIP'):
                    s.skipped += 1
                else:
                    s.fail('plan of 0 test cases (a filter that matched none?)')
        m = TAP_RESULT.match(line)
        if not m or len(m.group('indent')) != level:
            continue
        results += 1
        directive = (m.group('directive') or '').strip().upper()
        desc = m.group('desc').strip() or 'case %s' % m.group('num')
        if directive.startswith('SKIP'):
            s.skipped += 1
        elif m.group('ok') == 'ok' or directive.startswith('TODO'):
            s.passed += 1
        else:
            s.fail('not ok: %s' % desc)

    if s.rc is None:
        s.fail('did not end (crash or hang of the test machine)')
    elif level is None:
        if s.rc == 0:
            s.passed += 1
        elif s.rc == KSFT_SKIP:
            s.skipped += 1
        elif s.rc == 137:
            s.fail('killed by the suite timeout')
        else:
            s.fail('exit status %d' % s.rc)
    else:
        if plan is not None and results != plan:
            s.fail('plan said %d results, got %d' % (plan, results))
        if s.rc == 137:
            s.fail('killed by the suite timeout')
        elif s.rc not in (0, KSFT_SKIP) and s.failed == 0:
            s.fail('exit status %d though every result was ok' % s.rc)

    if s.skipped and not s.passed and not s.failed:
        s.fail('required suite skipped')


def find_splats(console):
    """Each kernel report in the console log, with the suite running then."""
    running = 'boot'
    splats = []
    last_report = -CALL_TRACE_WINDOW - 1
    for i, raw in enumerate(console.splitlines()):
        line = raw.rstrip('\r')
        m = SUITE_MARK.search(line)
        if m:
            running = m.group('name')
        elif SPLAT.search(line):
            splats.append((running, line.strip()))
            last_report = i
        elif CALL_TRACE.search(line) and i - last_report > CALL_TRACE_WINDOW:
            splats.append((running, 'stack dump without a report line'))
            last_report = i
    return splats


def expected_suites(conf_text):
    """The suite names a suites.conf lists, in order."""
    names = []
    for line in conf_text.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith('#') and not fields[0].startswith('@'):
            names.append(fields[0])
    return names


def selected(name, only):
    """Does GMEMPV_ONLY (comma-separated globs, as tests/initramfs/init reads
    them) select suite NAME?  Unset or empty selects everything."""
    if not only:
        return True
    return any(fnmatch.fnmatchcase(name, pat) for pat in only.split(',') if pat)


def collect(results_text, console_text, expected=(), tag=None, only=None):
    """The counted suites of one L1 boot, its kernel-log case last."""
    suffix = '@' + tag if tag else ''
    suites, began, done = parse_results(results_text)
    if tag and not began and expected and not any(selected(n, only) for n in expected):
        # make check did not boot for a list GMEMPV_ONLY selects none of.
        for name in expected:
            s = Suite(name)
            s.skipped = 1
            s.notes.append('not selected (GMEMPV_ONLY), its boot left out: '
                           'this is not a full check')
            s.not_selected = True
            suites.append(s)
        return suites
    seen = {s.name for s in suites}
    for name in expected:
        if name not in seen and began:
            s = Suite(name)
            s.rc = 0
            s.fail('listed in suites.conf but never reported')
            s.not_selected = True
            suites.append(s)
    for s in suites:
        if not s.not_selected:
            count_suite(s, kunit=s.name.startswith('kunit/'))

    extra = Suite('kernel-log' + suffix)
    for where, line in find_splats(console_text):
        extra.fail('splat during %s: %s' % (where, line))
    if not began:
        extra.fail('the test machine never started its init')
    elif not done:
        extra.fail('the test machine did not finish (no GMEMPV-DONE)')
    if not extra.failed:
        extra.passed = 1
    suites.append(extra)
    return suites


def summarize(results_text, console_text, out=None, expected=(), boots=(),
              only=None):
    """Count one boot, plus each of BOOTS (TAG, RESULTS, CONSOLE, EXPECTED),
    into one total; print the table and the total line."""
    out = out or sys.stdout
    suites = collect(results_text, console_text, expected, only=only)
    for tag, results, console, exp in boots:
        suites += collect(results, console, exp, tag=tag, only=only)

    passed = sum(s.passed for s in suites)
    failed = sum(s.failed for s in suites)
    skipped = sum(s.skipped for s in suites)
    print('', file=out)
    for s in suites:
        status = 'FAIL' if s.failed else ('SKIP' if s.skipped and not s.passed else 'PASS')
        secs = ' %ds' % s.secs if s.secs is not None else ''
        print('%-4s %-45s %3d passed %3d failed %3d skipped%s' %
              (status, s.name, s.passed, s.failed, s.skipped, secs), file=out)
        for n in s.notes:
            print('       %s' % n, file=out)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped), file=out)
    return passed, failed, skipped


def read(path):
    """A log's text; a missing log is an empty one."""
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def main(argv):
    only = os.environ.get('GMEMPV_ONLY')
    if len(argv) == 3 and argv[1] == '--any-selected':
        names = expected_suites(read(argv[2]))
        return 0 if any(selected(n, only) for n in names) else 1
    args, boots = argv[1:], []
    while '--boot' in args:
        i = args.index('--boot')
        if len(args) < i + 5:
            print(__doc__, file=sys.stderr)
            return 2
        tag, res, con, conf = args[i + 1:i + 5]
        boots.append((tag, read(res), read(con), expected_suites(read(conf))))
        del args[i:i + 5]
    if len(args) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    expected = ()
    if len(args) == 3:
        expected = expected_suites(read(args[2]))
    _, failed, _ = summarize(read(args[0]), read(args[1]), expected=expected,
                             boots=boots, only=only)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
