#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Put a pristine Linux 7.3 source tree at $1 (default build/linux-7.3).
#
# Sources, in order of preference:
#   GMEMPV_KERNEL_SRC   a local tarball (.tar, .tar.xz, ...) or an unpacked tree
#   ../shared/kernel/   the pinned linux-source-7.3 .deb, checked against SHA256SUMS
#   Debian's archive    linux-source-7.3 from trixie-backports, downloaded with a
#                       private apt configuration so the system's is not touched
#
# The tree is extracted into a temporary directory and renamed into place, so
# an interrupted run never leaves a half tree behind.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$top/build/linux-7.3}
shared=${GMEMPV_SHARED:-$top/../shared/kernel}
want_version=7.3

die() { echo "fetch-kernel: error: $*" >&2; exit 1; }
log() { echo "fetch-kernel: $*" >&2; }

if [ -f "$dest/.gmempv-pristine" ]; then
	exit 0
fi

work=$(mktemp -d "${dest%/*}/.fetch.XXXXXX" 2>/dev/null) || {
	mkdir -p "${dest%/*}"
	work=$(mktemp -d "${dest%/*}/.fetch.XXXXXX")
}
trap 'rm -rf "$work"' EXIT

# Unpack a kernel tarball into $work/tree.
unpack_tarball() {
	log "unpacking $1"
	mkdir -p "$work/x"
	tar -xf "$1" -C "$work/x" || die "cannot unpack $1"
	local d
	d=$(find "$work/x" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	[ -n "$d" ] && [ -f "$d/Makefile" ] || die "$1 does not hold a kernel tree"
	mv "$d" "$work/tree"
}

# Unpack the tarball inside a linux-source .deb.
unpack_deb() {
	log "extracting $1"
	dpkg-deb --fsys-tarfile "$1" | tar -x -C "$work" --wildcards './usr/src/linux-source-*.tar.*' ||
		die "$1 holds no linux-source tarball"
	unpack_tarball "$(ls "$work"/usr/src/linux-source-*.tar.* | head -n 1)"
}

verify_sha256() {
	local deb=$1 sums=$2 name
	name=$(basename "$deb")
	[ -f "$sums" ] || die "no SHA256SUMS beside $deb"
	grep -q " \*\?$name\$" "$sums" || die "$name is not listed in $sums"
	(cd "$(dirname "$deb")" && grep " \*\?$name\$" "$sums" | sha256sum -c --quiet -) ||
		die "checksum mismatch for $deb"
	log "verified $name against $sums"
}

# Download linux-source-7.3 from trixie-backports with a private apt state,
# on the same mirror the system's own sources use.
fetch_from_apt() {
	local mirror aptdir deb
	mirror=$(grep -rhoE '(https?|file)://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		grep -v security | head -n 1)
	mirror=${GMEMPV_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}
	aptdir=$work/apt
	mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial"
	echo "deb $mirror trixie-backports main" > "$aptdir/sources.list"
	local opts=(-o Dir::Etc::SourceList="$aptdir/sources.list"
		    -o Dir::Etc::SourceParts=/dev/null
		    -o Dir::State::Lists="$aptdir/lists"
		    -o Dir::Cache::Archives="$aptdir/archives"
		    -o APT::Get::List-Cleanup=0
		    -o Acquire::Languages=none)
	log "downloading linux-source-$want_version from $mirror trixie-backports"
	apt-get "${opts[@]}" -qq update || die "apt-get update of trixie-backports failed"
	(cd "$aptdir" && apt-get "${opts[@]}" -qq download "linux-source-$want_version") ||
		die "apt-get download linux-source-$want_version failed"
	deb=$(ls "$aptdir"/linux-source-"$want_version"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || die "apt-get download produced no .deb"
	unpack_deb "$deb"
}

if [ -n "${GMEMPV_KERNEL_SRC:-}" ]; then
	if [ -d "$GMEMPV_KERNEL_SRC" ]; then
		[ -f "$GMEMPV_KERNEL_SRC/Makefile" ] || die "GMEMPV_KERNEL_SRC=$GMEMPV_KERNEL_SRC is not a kernel tree"
		log "copying tree $GMEMPV_KERNEL_SRC"
		cp -a "$GMEMPV_KERNEL_SRC" "$work/tree"
	elif [ -f "$GMEMPV_KERNEL_SRC" ]; then
		case "$GMEMPV_KERNEL_SRC" in
		*.deb) unpack_deb "$GMEMPV_KERNEL_SRC" ;;
		*) unpack_tarball "$GMEMPV_KERNEL_SRC" ;;
		esac
	else
		die "GMEMPV_KERNEL_SRC=$GMEMPV_KERNEL_SRC does not exist"
	fi
else
	deb=$(ls "$shared"/linux-source-"$want_version"_*_all.deb 2>/dev/null | sort -V | tail -n 1 || true)
	if [ -n "$deb" ]; then
		verify_sha256 "$deb" "$shared/SHA256SUMS"
		unpack_deb "$deb"
	elif command -v apt-get >/dev/null; then
		fetch_from_apt
	else
		die "no kernel source: set GMEMPV_KERNEL_SRC, provide $shared/linux-source-$want_version_*.deb, or install apt"
	fi
fi

version=$(make -s -C "$work/tree" kernelversion 2>/dev/null || true)
case "$version" in
"$want_version".*|"$want_version") ;;
*) die "expected Linux $want_version, got '${version:-unknown}'" ;;
esac

# Stamp it so later steps know the tree is complete and which it is.
echo "$version" > "$work/tree/.gmempv-pristine"
rm -rf "$dest"
mv "$work/tree" "$dest"
log "Linux $version at $dest"
