#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The gmem-pv guest driver on a host without KVM_FEATURE_GMEM_PV (L1 under
# QEMU TCG has no KVM CPUID leaf at all): it must do nothing.  TAP output.

. "$(dirname "$0")/../lib/tap.sh"

d=/sys/kernel/debug/gmem_pv

echo "TAP version 13"
echo "1..6"

[ "$(cat $d/active 2>/dev/null)" = 0 ]
ok $? "debugfs gmem_pv/active reads 0"

bad=
for f in hypercalls pages_shared pages_unshared shared_pages failures hints hint_pages; do
	v=$(cat $d/$f 2>/dev/null)
	[ "$v" = 0 ] || bad="$bad $f=${v:-missing}"
done
[ -z "$bad" ]
ok $? "every counter is 0${bad:+ (not:$bad)}"

r=$(cat $d/shared_ranges 2>&1)
[ -f $d/shared_ranges ] && [ -z "$r" ]
ok $? "the list of shared ranges is empty${r:+ (got: $(echo $r | head -c 80))}"

err=$( (echo 1 > $d/exercise) 2>&1 )
echo "$err" | grep -q "No such device"
ok $? "exercise refuses with ENODEV (got: ${err:-success})"

# KUnit's gmem_pv_convert and gmem_pv_shared drive the driver's loop
# against a fake host at boot, and the loop logs the errors it is fed: not
# the driver's doing.
! dmesg | sed -e '/# Subtest: gmem_pv_convert/,/ok [0-9]* gmem_pv_convert/d' \
	      -e '/# Subtest: gmem_pv_shared/,/ok [0-9]* gmem_pv_shared/d' |
	grep -q "gmem-pv: \|Memory Encryption Features active"
ok $? "the driver logged nothing (outside KUnit's fake host) and no CC platform is active"

! dmesg | grep -q "system is using DMA bounce buffers"
ok $? "DMA is not bounced"

exit $((failed > 0))
