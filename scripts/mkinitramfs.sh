#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Assemble L1's initramfs: busybox-static, the init script, the kernel's
# modules (KVM is loaded by modprobe), the static test programs and the
# suites lists (tests/suites.conf, tests/suites-smp.conf); with BZIMAGE, the reference VMM, the kernel it boots as the
# L2 guest and the guest's own small initramfs (busybox-static and
# tests/vmm/guest-init); with QEMU_OBJ too, QEMU 10.0 from `make qemu`, its
# shared libraries and its firmware, and tests/qemu/e2e.sh.
#
#   mkinitramfs.sh OUT.cpio MODULES_DIR SELFTESTS_DIR [BZIMAGE [QEMU_OBJ]]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$1 mods=$2 tests=$3 guest_kernel=${4:-} qemu_obj=${5:-}
die() { echo "mkinitramfs: error: $*" >&2; exit 1; }

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox not found: apt-get install busybox-static"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable' ||
	die "$busybox is not static: apt-get install busybox-static"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,tests,lib}
cp "$busybox" "$root/bin/busybox"
install -m 0755 "$top/tests/initramfs/init" "$root/init"

cp -a "$mods/lib/modules" "$root/lib/"
ver=$(ls "$root/lib/modules")
depmod -b "$root" "$ver"

cp -a "$tests/kvm" "$root/tests/kvm"
find "$root/tests/kvm" \( -name '*.o' -o -name '*.d' -o -name '*.a' \) -delete
find "$root/tests/kvm" -type d -empty -delete
[ -d "$tests/tools" ] && cp -a "$tests/tools" "$root/tests/tools"

if [ -n "$guest_kernel" ]; then
	[ -x "$tests/vmm/gmem-vmm" ] || die "$tests/vmm/gmem-vmm was not built"
	mkdir -p "$root/tests/vmm"
	cp "$tests/vmm/gmem-vmm" "$guest_kernel" "$root/tests/vmm/"
	install -m 0755 "$top/tests/vmm/e2e.sh" "$root/tests/vmm/"
	groot=$(mktemp -d)
	mkdir -p "$groot"/{bin,dev,proc,sys,tmp}
	cp "$busybox" "$groot/bin/busybox"
	install -m 0755 "$top/tests/vmm/guest-init" "$groot/init"
	(cd "$groot" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) \
		> "$root/tests/vmm/guest.cpio"
	rm -rf "$groot"
fi

# QEMU 10.0 (make qemu) for the qemu/* suites: the binary (stripped) in
# /tests/qemu/bin, the shared libraries it links at the paths ldd names,
# and in /tests/qemu/share (its -L directory) the firmware q35 and microvm
# load to boot a bzImage with -kernel, as tried in L1 by leaving each file
# out (build-and-test.rst, "Building QEMU"): SeaBIOS from Debian's seabios
# package (bios-256k.bin for q35, bios-microvm.bin for microvm) and two
# option ROMs built from QEMU's own source: linuxboot_dma.bin, the -kernel
# loader (fw_cfg DMA) of both, and kvmvapic.bin, which q35 loads.  No VGA
# BIOS and no NIC boot ROMs: the suites run without a display or a NIC.
if [ -n "$qemu_obj" ]; then
	qbin=$qemu_obj/qemu-system-x86_64
	[ -x "$qbin" ] || die "$qbin was not built (make qemu)"
	[ -n "$guest_kernel" ] || die "QEMU's suites boot the L2 guest: BZIMAGE is needed too"
	mkdir -p "$root/tests/qemu/bin" "$root/tests/qemu/share"
	strip -o "$root/tests/qemu/bin/qemu-system-x86_64" "$qbin"
	ldd "$qbin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
	while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || die "ldd named no dynamic loader for $qbin"
	for f in bios-256k.bin bios-microvm.bin; do
		[ -f "/usr/share/seabios/$f" ] || die "/usr/share/seabios/$f is missing: apt-get install seabios"
		cp "/usr/share/seabios/$f" "$root/tests/qemu/share/"
	done
	for f in linuxboot_dma.bin kvmvapic.bin; do
		[ -f "$qemu_obj/pc-bios/optionrom/$f" ] || die "$qemu_obj/pc-bios/optionrom/$f was not built"
		cp "$qemu_obj/pc-bios/optionrom/$f" "$root/tests/qemu/share/"
	done
	install -m 0755 "$top/tests/qemu/e2e.sh" "$root/tests/qemu/"
	install -m 0755 "$top/tests/qemu/protected.sh" "$root/tests/qemu/"
fi

# The TAP helper the shell suites source.
mkdir -p "$root/tests/lib"
install -m 0644 "$top/tests/lib/tap.sh" "$root/tests/lib/"

# Shell suites checking the guest driver from inside a machine, and the
# host's module parameters.
mkdir -p "$root/tests/guest" "$root/tests/host"
install -m 0755 "$top"/tests/guest/*.sh "$root/tests/guest/"
install -m 0755 "$top"/tests/host/*.sh "$root/tests/host/"

cp "$top/tests/suites.conf" "$root/tests/suites.conf"
cp "$top/tests/suites-smp.conf" "$root/tests/suites-smp.conf"
if [ "${GMEMPV_INJECT_FAILURE:-0}" = 1 ]; then
	mkdir -p "$root/tests/harness"
	install -m 0755 "$top/tests/harness/inject-failure.sh" "$root/tests/harness/"
	echo "harness/injected_failure 30 harness/inject-failure.sh" >> "$root/tests/suites.conf"
fi

# Every program the suites name must be there; an initramfs without QEMU
# (make bench's) runs no qemu/* suite.
for conf in "$root/tests/suites.conf" "$root/tests/suites-smp.conf"; do
	while read -r name limit prog args; do
		case "$name" in ''|\#*|@*) continue ;; esac
		case "$name" in qemu/*) [ -n "$qemu_obj" ] || continue ;; esac
		[ -x "$root/tests/$prog" ] || die "suite $name: /tests/$prog was not built"
	done < "$conf"
done

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "  INITRAMFS $out ($(du -h "$out" | cut -f1))"
