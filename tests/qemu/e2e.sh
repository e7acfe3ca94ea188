#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end tests with QEMU 10.0 (make qemu) in L1: each boots an L2 guest,
# the same bzImage and the same small initramfs as the reference VMM's
# (tests/vmm/guest-init), and prints TAP.
#
#   e2e.sh boot_unprotected
#
# boot_unprotected: an unprotected guest on q35 (virtio-blk-pci) and on
# microvm (virtio-blk over virtio-mmio), each writing a 16 MiB pattern to
# its disk and reading it back, then powering off.
#
# QEMU, its libraries and its firmware are laid into L1's initramfs by
# scripts/mkinitramfs.sh: the binary in /tests/qemu/bin, the firmware
# directory (-L) /tests/qemu/share.

. "$(dirname "$0")/../lib/tap.sh"

Q=${GMEMPV_QEMU_DIR:-/tests/qemu}
V=${GMEMVM_DIR:-/tests/vmm}
QEMU=$Q/bin/qemu-system-x86_64
MB=16

# run_qemu NAME MACHINE DISK-DEVICE [QEMU-ARGS...]: boot a guest with a
# 64 MiB raw disk on DISK-DEVICE; its console is /tmp/qemu-NAME.log (shown
# as TAP comments), QEMU's own messages /tmp/qemu-NAME.err, its exit
# status $rc and its run time $secs.
#
# -cpu host,-xsave: XSAVE must be cleared for an L2 guest under nested TCG
# (L1's CPU is QEMU 7.2's TCG EPYC).  Guest poweroff (ACPI) ends QEMU with
# status 0; -no-reboot makes a guest reset or panic (panic=-1) end it too,
# which the checks tell apart by the console.
run_qemu() {
	name=$1 machine=$2 blk=$3
	shift 3
	log=/tmp/qemu-$name.log
	err=/tmp/qemu-$name.err
	disk=/tmp/qemu-$name.disk
	rm -f "$log" "$err"
	dd if=/dev/zero of="$disk" bs=1M count=64 2>/dev/null
	set -- -accel kvm -machine "$machine" -cpu host,-xsave -smp 1 -m 512M \
		-nodefaults -no-user-config -L "$Q/share" \
		-display none -vga none -monitor none -no-reboot \
		-serial "file:$log.raw" \
		-kernel "$V/bzImage" -initrd "$V/guest.cpio" \
		-append "console=ttyS0 reboot=k panic=-1 kunit.enable=0 gmemvm.test=disk gmemvm.mb=$MB" \
		-drive "file=$disk,format=raw,if=none,id=disk0" \
		-device "$blk,drive=disk0" "$@"
	echo "# qemu-system-x86_64 $*"
	t0=$(date +%s)
	timeout -s KILL "${GMEMPV_QEMU_L2_TIMEOUT:-300}" "$QEMU" "$@" < /dev/null > "$err" 2>&1
	rc=$?
	secs=$(( $(date +%s) - t0 ))
	tr -d '\r' < "$log.raw" > "$log" 2>/dev/null
	rm -f "$log.raw"
	sed -e 's/^/# /' "$log"
	sed -e 's/^/# qemu: /' "$err"
	echo "# exit status $rc after $secs s"
}

no_splat() {
	! grep -q -E 'BUG:|WARNING:|Oops|Kernel panic|UBSAN:|general protection|Call Trace:|rcu: INFO' "$log"
}

# The guest's checksums agree with each other and with the disk file in L1.
disk_ok() {
	set -- $(grep 'GUEST-DISK-SUM' "$log" | tail -1 | tr ' ' '\n' | sed -n 's/^\(wrote\|read\)=//p')
	host=$(head -c $((MB * 1048576)) "$disk" | sha256sum | cut -d' ' -f1)
	echo "# guest wrote ${1:-nothing}, read back ${2:-nothing}; the file in L1 has $host"
	[ -n "$1" ] && [ "$1" = "$2" ] && [ "$1" = "$host" ]
}

# The disk's transport as the guest's log shows it.  q35: the PCI device
# with the modern-only virtio-blk ID.  microvm describes its virtio-mmio
# devices in ACPI (LNRO0005), which the kernel does not log; there the
# guest enumerated no PCI device at all, so a disk it sees is virtio-mmio.
on_virtio_pci() {
	grep -q -E '^pci [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]: \[1af4:1042\]' "$log"
}
on_virtio_mmio() {
	! grep -q -E '^pci [0-9a-f]{4}:' "$log"
}

# boot_checks LABEL TRANSPORT: the five checks of one boot
boot_checks() {
	grep -q 'Hypervisor detected: KVM' "$log" && ! grep -q 'qemu-system-x86_64:' "$err"
	ok $? "$1: QEMU 10.0 starts the guest under KVM (kernel says 'Hypervisor detected: KVM', QEMU reports no error)"
	grep -q 'GUEST-USERSPACE' "$log"
	ok $? "$1: the guest reaches userspace"
	on_$2 && grep -q -E 'virtio_blk virtio[0-9]+: .*\[vda\]' "$log" && disk_ok
	ok $? "$1: the guest sees the virtio disk on $(echo $2 | tr _ -) and reads its $MB MiB pattern back, the file in L1 matches"
	[ "$rc" = 0 ] && grep -q 'GUEST-STATUS 0' "$log" && grep -q 'reboot: Power down' "$log"
	ok $? "$1: QEMU exits 0 on the guest's poweroff (status $rc, $secs s)"
	no_splat
	ok $? "$1: no kernel splat in the guest"
}

boot_unprotected() {
	echo "1..10"
	run_qemu q35 q35 virtio-blk-pci,disable-legacy=on
	boot_checks "q35, virtio-blk-pci" virtio_pci
	run_qemu microvm microvm virtio-blk-device
	boot_checks "microvm, virtio-mmio" virtio_mmio
}

case "$1" in
boot_unprotected)
	"$1"
	;;
*)
	echo "usage: e2e.sh TEST" >&2
	exit 2
	;;
esac
[ $failed = 0 ]
