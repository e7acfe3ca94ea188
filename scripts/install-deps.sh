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
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} = 0 ] && exit 0

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
