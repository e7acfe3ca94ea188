# SPDX-License-Identifier: GPL-2.0
#
# TAP for the shell suites run in L1 (tests/guest/*.sh, tests/vmm/e2e.sh):
# source it, report each check with ok, end with the failed count.

n=0
failed=0

ok() {	# ok CONDITION-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
