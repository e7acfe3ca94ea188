#!/bin/sh
# A suite that fails on purpose: `make check GMEMPV_INJECT_FAILURE=1` adds it,
# to show that one failing test case makes the whole run fail.
echo "TAP version 13"
echo "1..2"
echo "ok 1 harness_passes"
echo "not ok 2 harness_fails_on_purpose"
exit 1
