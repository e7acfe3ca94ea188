#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host/harness suite of `make check`: every test module of this
directory in one TAP stream, one line per test case."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def tap(classes):
    loader = unittest.TestLoader()
    tests = [t for c in classes for t in loader.loadTestsFromTestCase(c)]
    print('TAP version 13')
    print('1..%d' % len(tests), flush=True)
    failed = 0
    for i, t in enumerate(tests, 1):
        r = unittest.TestResult()
        t.run(r)
        name = '%s.%s' % (type(t).__name__, t._testMethodName)
        if r.skipped and r.wasSuccessful():
            print('ok %d %s # SKIP %s' % (i, name, r.skipped[0][1]))
        elif r.wasSuccessful():
            print('ok %d %s' % (i, name))
        else:
            failed += 1
            print('not ok %d %s' % (i, name))
            for _, tb in r.failures + r.errors:
                for line in tb.splitlines():
                    print('# ' + line)
        sys.stdout.flush()
    return 1 if failed else 0


def main():
    import test_summarize
    import test_fetch_kernel
    import test_make_patches
    import test_fetch_qemu
    import test_fetch_meson
    return tap((test_summarize.Counting, test_summarize.TwoBoots, test_summarize.Splats,
                test_summarize.TwoVcpuGuestsPinned) +
               test_fetch_kernel.CASES + test_make_patches.CASES +
               test_fetch_qemu.CASES + test_fetch_meson.CASES)


if __name__ == '__main__':
    sys.exit(main())
