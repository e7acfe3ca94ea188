#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The suite host/kconfig_unsupported: CONFIG_GMEM_PV cannot be built into a
# kernel with kexec (KEXEC_CORE), hibernation or memory hotplug, each of
# which would carry shared pages into another kernel or image, or bring RAM
# the guest driver never made private (Documentation/virt/gmem-pv/guest.rst,
# "Not supported").  Kconfig enforces it: starting from the test kernel's
# .config, turning one of them on must turn GMEM_PV off.
#
#   kconfig-unsupported.sh SRCTREE OBJTREE SCRATCH
#
# OBJTREE holds the test kernel's .config; SCRATCH is an object directory
# this script may overwrite.  Prints TAP.
set -uo pipefail

src=$1 obj=$2 scratch=$3

# The feature, the lines that turn it on, what must come out =y (kdump
# needs KEXEC_CORE itself).
cases=(
	"kexec|CONFIG_KEXEC=y|CONFIG_KEXEC_CORE"
	"kexec_file|CONFIG_KEXEC_FILE=y|CONFIG_KEXEC_CORE"
	"hibernation|CONFIG_SWAP=y CONFIG_HIBERNATION=y|CONFIG_HIBERNATION"
	"memory_hotplug|CONFIG_MEMORY_HOTPLUG=y|CONFIG_MEMORY_HOTPLUG"
)

has() { grep -qx "$1=y" "$2"; }

echo "TAP version 13"
echo "1..$((${#cases[@]} + 1))"

n=1 fail=0
if has CONFIG_GMEM_PV "$obj/.config" && ! has CONFIG_KEXEC_CORE "$obj/.config" &&
   ! has CONFIG_HIBERNATION "$obj/.config" && ! has CONFIG_MEMORY_HOTPLUG "$obj/.config"; then
	echo "ok $n test_kernel_has_gmem_pv_without_them"
else
	echo "not ok $n test_kernel_has_gmem_pv_without_them"; fail=1
	grep -E '^CONFIG_(GMEM_PV|KEXEC_CORE|HIBERNATION|MEMORY_HOTPLUG)=' "$obj/.config" | sed 's/^/# /'
fi

for c in "${cases[@]}"; do
	IFS='|' read -r name lines sym <<< "$c"
	n=$((n + 1))
	# One scratch directory: Kconfig's own programs are built once.
	mkdir -p "$scratch"
	cp "$obj/.config" "$scratch/.config"
	for l in $lines; do echo "$l" >> "$scratch/.config"; done
	if ! make -s -C "$src" O="$scratch" olddefconfig > "$scratch/kconfig.log" 2>&1; then
		echo "not ok $n ${name}_turns_gmem_pv_off"; fail=1
		sed 's/^/# /' "$scratch/kconfig.log"
		continue
	fi
	if ! has "$sym" "$scratch/.config"; then
		# The case did not enable what it means to test: a failure, not a pass.
		echo "not ok $n ${name}_turns_gmem_pv_off"; fail=1
		echo "# $lines did not give $sym=y"
	elif has CONFIG_GMEM_PV "$scratch/.config"; then
		echo "not ok $n ${name}_turns_gmem_pv_off"; fail=1
		echo "# $sym=y and CONFIG_GMEM_PV=y together"
	else
		echo "ok $n ${name}_turns_gmem_pv_off"
		echo "# $sym=y, CONFIG_GMEM_PV not set"
	fi
done
rm -rf "$scratch"
exit $fail
