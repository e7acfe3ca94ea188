#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kvm.ko's two spellings of "guest_memfd owns the private/shared state":
# upstream's vm_memory_attributes=0 (the in-place conversion series, v13,
# for 7.4) and gmem-pv's gmem_in_place_conversion=1.  Both name one
# setting; contradictory values refuse the load.  Reloads kvm and kvm_amd
# and leaves them loaded with the defaults.  TAP output.

. "$(dirname "$0")/../lib/tap.sh"

p=/sys/module/kvm/parameters
caps=$(dirname "$0")/../tools/kvm_caps

# load PARAMS...: reload kvm with PARAMS, then kvm_amd; status of the load.
load() {
	rmmod kvm_amd 2>/dev/null
	rmmod kvm 2>/dev/null
	modprobe kvm "$@" 2>&1 | sed 's/^/# modprobe: /'
	[ -d $p ] || return 1
	modprobe kvm_amd && [ -c /dev/kvm ]
}

# state: "<vm_memory_attributes> <gmem_in_place_conversion>" as sysfs reads.
state() {
	echo "$(cat $p/vm_memory_attributes 2>/dev/null || echo -)" \
	     "$(cat $p/gmem_in_place_conversion 2>/dev/null || echo -)"
}

# vm_cap NAME: the capability NAME on a software-protected VM (kvm_caps).
vm_cap() {
	"$caps" | awk -v c="$1" '/^# KVM_X86_SW_PROTECTED_VM:/ { vm = 1 }
		vm && $2 == c { print $3 }'
}

# expect_owned YES|NO WHAT: the state is (not) guest_memfd's, as KVM reports.
expect_owned() {
	g=$(vm_cap KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES)
	v=$(vm_cap KVM_CAP_MEMORY_ATTRIBUTES)
	if [ "$1" = YES ]; then
		[ "$g" = 8 ] && [ "$v" = 0 ]
	else
		[ "$g" = 0 ] && [ "$v" = 8 ]
	fi
	ok $? "$2: GUEST_MEMFD_MEMORY_ATTRIBUTES=$g MEMORY_ATTRIBUTES=$v"
}

echo "TAP version 13"
echo "1..12"

load
ok $? "kvm loads with no parameters"
s=$(state)
[ "$s" = "Y N" ]
ok $? "default: vm_memory_attributes=Y gmem_in_place_conversion=N (got $s)"
expect_owned NO "default"

load vm_memory_attributes=0
ok $? "kvm loads with vm_memory_attributes=0"
s=$(state)
[ "$s" = "N Y" ]
ok $? "vm_memory_attributes=0 reads back N, gmem_in_place_conversion Y (got $s)"
expect_owned YES "vm_memory_attributes=0"

load gmem_in_place_conversion=1
s=$(state)
[ "$s" = "N Y" ]
ok $? "gmem_in_place_conversion=1 is vm_memory_attributes=N (got $s)"

load vm_memory_attributes=0 gmem_in_place_conversion=1
ok $? "the two spellings agreeing load"

dmesg -c >/dev/null 2>&1
! load vm_memory_attributes=1 gmem_in_place_conversion=1
ok $? "vm_memory_attributes=1 gmem_in_place_conversion=1 refuses to load"
dmesg | grep -q "kvm: gmem_in_place_conversion contradicts vm_memory_attributes"
ok $? "... and says why in the kernel log"

! load gmem_in_place_conversion=0 vm_memory_attributes=0
ok $? "gmem_in_place_conversion=0 vm_memory_attributes=0 refuses to load"

load
s=$(state)
[ "$s" = "Y N" ]
ok $? "reloaded with the defaults (got $s)"

exit $((failed > 0))
