#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages gmem-pv needs to build the kernel and the tests
# and to run the test machine.  Idempotent; does nothing when all are there.
set -euo pipefail

pkgs=(
	# kernel build
	gcc make bc bison flex libelf-dev libssl-dev kmod patch file python3 ccache
	# kernel source from the pinned .deb (dpkg-deb) or apt, and xz; the apt
	# fallback checks Debian's archive keyring, and its harness cases build
	# a signed test archive (dpkg-scanpackages, gpg)
	dpkg xz-utils debian-archive-keyring dpkg-dev gpg
	# test machine
	qemu-system-x86 busybox-static cpio
	# make patches and its check: git format-patch and git am, checkpatch.pl
	git perl
	# make qemu (QEMU 10.0, scripts/fetch-qemu.sh): its build and the
	# libraries of a KVM-only x86_64-softmmu (glib, zlib, libfdt for
	# microvm's device tree); meson itself comes from bookworm-backports,
	# below, Python's venv module for QEMU's configure
	ninja-build pkgconf libglib2.0-dev zlib1g-dev libfdt-dev python3-venv bzip2
	# the x86 option ROMs (linuxboot_dma.bin, pvh.bin, ...) are built with
	# gcc -m32, whose probe in configure links 32-bit libgcc
	gcc-multilib
	# the firmware L1's QEMU 10.0 boots with (bios-256k.bin, bios-microvm.bin)
	seabios
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} != 0 ]; then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "install-deps: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# meson >= 1.5 for QEMU 10.0: bookworm-backports' .deb, unpacked under
# build/tools/meson with a private apt configuration (the system's sources
# are not changed); nothing is done when it is there.
"$(dirname "$0")/fetch-meson.sh"
