#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Put a pristine QEMU 10.0.13 source tree at $1 (default build/qemu-10.0.13).
#
# Sources, in order of preference:
#   GMEMPV_QEMU_SRC   a local tarball (.tar.xz, ...) or an unpacked tree
#   ../shared/qemu/   Debian trixie's qemu 10.0.13+ds source (orig and debian
#                     tarballs, .dsc), checked against SHA256SUMS beside them
#   Debian's archive  the same source package, downloaded with `apt-get source
#                     --download-only` through a private apt configuration (a
#                     deb-src line for trixie, its own state and cache; the
#                     system's sources are never changed), from the Debian
#                     mirror scripts/fetch-kernel.sh finds (or
#                     GMEMPV_DEBIAN_MIRROR); apt checks the files against the
#                     archive's signed Sources index
#
# Debian's +ds orig tarball is QEMU's release without the prebuilt firmware
# and without the python wheels of meson and pycotap.  Two of the Debian
# patches are applied to such a tree because QEMU's own build needs them
# there, and no other:
#   skip-unpack-edk2-blobs.patch  the meson.build of pc-bios otherwise names
#                                 the edk2 .fd.bz2 files the tarball lacks
#   disable-pycotap.patch         pythondeps.toml otherwise requires pycotap
#                                 (only the functional tests use it), which
#                                 Debian 12 does not package and which cannot
#                                 be fetched from PyPI here
# They are taken from the debian tarball of the same source package (pinned
# or downloaded, or GMEMPV_QEMU_DEBIAN=path to one) and applied only when the
# tree lacks what they work around, so an upstream release tarball is used
# unchanged.
#
# The tree is unpacked into a temporary directory and renamed into place, so
# an interrupted run never leaves a half tree behind; it is stamped with
# .gmempv-pristine (the version and the patches applied).  Every failure
# prints one `fetch-qemu: error: ...` line saying what is missing.
set -Eeuo pipefail
shopt -s inherit_errexit

top=$(cd "$(dirname "$0")/.." && pwd)
shared=${GMEMPV_SHARED_QEMU:-$top/../shared/qemu}
want_version=10.0.13
pkg_version=10.0.13+ds-0+deb13u1
debian_patches=(skip-unpack-edk2-blobs.patch disable-pycotap.patch)

die() { echo "fetch-qemu: error: $*" >&2; exit 1; }
log() { echo "fetch-qemu: $*" >&2; }
. "$(dirname "$0")/private-apt.sh"
trap 'echo "fetch-qemu: error: unexpected failure at line $LINENO: $BASH_COMMAND" >&2' ERR

dest=${1:-$top/build/qemu-$want_version}
[ -f "$dest/.gmempv-pristine" ] && exit 0
mkdir -p "${dest%/*}" || die "cannot create ${dest%/*}"
work=$(mktemp -d "${dest%/*}/.fetch-qemu.XXXXXX") || die "cannot create a temporary directory in ${dest%/*}"
trap 'rm -rf "$work"' EXIT

orig=
debian_tar=${GMEMPV_QEMU_DEBIAN:-}

unpack_tarball() {
	log "unpacking $1"
	mkdir -p "$work/x"
	tar -xf "$1" -C "$work/x" || die "cannot unpack $1"
	local d
	d=$(find "$work/x" -mindepth 1 -maxdepth 1 -type d -print -quit)
	[ -n "$d" ] && [ -f "$d/VERSION" ] && [ -x "$d/configure" ] || die "$1 does not hold a QEMU tree"
	mv "$d" "$work/tree"
}

verify_sha256() {
	local f=$1 sums=$2 name
	name=$(basename "$f")
	[ -f "$sums" ] || die "no SHA256SUMS beside $f"
	grep -q " \*\?$name\$" "$sums" || die "$name is not listed in $sums"
	(cd "$(dirname "$f")" && grep " \*\?$name\$" "$sums" | sha256sum -c --quiet -) ||
		die "checksum mismatch for $f"
	log "verified $name against $sums"
}

# `apt-get source --download-only` of qemu=$pkg_version from trixie, with a
# private apt configuration as in scripts/fetch-kernel.sh.  apt verifies each
# file against the SHA256 of the signed Sources index; the .dsc is not
# unpacked with dpkg-source (which would apply every Debian patch).
fetch_from_apt() {
	local mirrors mirror aptdir keyring tried=
	keyring=${GMEMPV_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
	[ -r "$keyring" ] ||
		die "Debian's archive keyring $keyring is missing (install debian-archive-keyring or set GMEMPV_DEBIAN_KEYRING)"
	mirrors=$("$top/scripts/fetch-kernel.sh" --print-mirrors) ||
		die "no Debian mirror (scripts/fetch-kernel.sh --print-mirrors failed, its message above)"
	aptdir=$work/apt
	private_apt_init "$aptdir"
	local opts=(-c "$aptdir/apt.conf")
	for mirror in $mirrors; do
		printf '%s\n' "deb-src [signed-by=$keyring target=Sources] $mirror trixie main" \
			"deb-src [signed-by=$keyring target=Sources] $mirror trixie-updates main" \
			> "$aptdir/sources.list" || die "cannot write $aptdir/sources.list"
		log "reading trixie's sources from $mirror"
		apt-get "${opts[@]}" -qq --error-on=any update && break
		log "warning: apt-get update of trixie's sources from $mirror failed (apt's message above)"
		tried="$tried $mirror"
		mirror=
	done
	[ -n "$mirror" ] || die "no mirror served a signed trixie (tried:$tried)"
	log "downloading qemu $pkg_version from $mirror"
	(cd "$aptdir/dl" && apt-get "${opts[@]}" -qq source --download-only "qemu=1:$pkg_version") ||
		die "apt-get source of qemu $pkg_version from $mirror failed (apt's message above)"
	orig=$aptdir/dl/qemu_${pkg_version%-*}.orig.tar.xz
	[ -f "$orig" ] || die "apt-get source left no $(basename "$orig")"
	[ -n "$debian_tar" ] || debian_tar=$aptdir/dl/qemu_$pkg_version.debian.tar.xz
}

if [ -n "${GMEMPV_QEMU_SRC:-}" ]; then
	if [ -d "$GMEMPV_QEMU_SRC" ]; then
		[ -f "$GMEMPV_QEMU_SRC/VERSION" ] || die "GMEMPV_QEMU_SRC=$GMEMPV_QEMU_SRC is not a QEMU tree"
		log "copying tree $GMEMPV_QEMU_SRC"
		cp -a "$GMEMPV_QEMU_SRC" "$work/tree" || die "cannot copy $GMEMPV_QEMU_SRC"
	elif [ -f "$GMEMPV_QEMU_SRC" ]; then
		unpack_tarball "$GMEMPV_QEMU_SRC"
	else
		die "GMEMPV_QEMU_SRC=$GMEMPV_QEMU_SRC does not exist"
	fi
	if [ -z "$debian_tar" ] && [ -f "$shared/qemu_$pkg_version.debian.tar.xz" ]; then
		debian_tar=$shared/qemu_$pkg_version.debian.tar.xz
		verify_sha256 "$debian_tar" "$shared/SHA256SUMS"
	fi
elif [ -f "$shared/qemu_${pkg_version%-*}.orig.tar.xz" ]; then
	orig=$shared/qemu_${pkg_version%-*}.orig.tar.xz
	verify_sha256 "$orig" "$shared/SHA256SUMS"
	if [ -z "$debian_tar" ]; then
		debian_tar=$shared/qemu_$pkg_version.debian.tar.xz
		[ -f "$debian_tar" ] || die "$shared has the orig tarball but no $(basename "$debian_tar")"
		verify_sha256 "$debian_tar" "$shared/SHA256SUMS"
	fi
	unpack_tarball "$orig"
elif command -v apt-get >/dev/null; then
	fetch_from_apt
	unpack_tarball "$orig"
else
	die "no QEMU source: no $shared/qemu_${pkg_version%-*}.orig.tar.xz and no apt-get for the fallback; set GMEMPV_QEMU_SRC"
fi

version=$(cat "$work/tree/VERSION")
[ "$version" = "$want_version" ] || die "expected QEMU $want_version, got '${version:-unknown}'"

# The Debian patches, only where the tree lacks what they stand in for.
needed=()
[ -f "$work/tree/pc-bios/edk2-x86_64-code.fd.bz2" ] || needed+=(skip-unpack-edk2-blobs.patch)
if grep -q '^pycotap' "$work/tree/pythondeps.toml" &&
   ! ls "$work/tree"/python/wheels/pycotap-*.whl >/dev/null 2>&1; then
	needed+=(disable-pycotap.patch)
fi
applied=
if [ ${#needed[@]} -gt 0 ]; then
	[ -n "$debian_tar" ] && [ -f "$debian_tar" ] ||
		die "the tree needs Debian's ${needed[*]}, and no debian tarball is at hand (set GMEMPV_QEMU_DEBIAN)"
	mkdir -p "$work/deb"
	tar -xf "$debian_tar" -C "$work/deb" \
		$(printf 'debian/patches/%s ' "${needed[@]}") ||
		die "$(basename "$debian_tar") lacks debian/patches/{${needed[*]}}"
	for p in "${needed[@]}"; do
		log "applying Debian's $p"
		patch -d "$work/tree" -p1 -s --batch --forward --no-backup-if-mismatch \
			< "$work/deb/debian/patches/$p" || die "Debian's $p does not apply"
		applied="$applied $p"
	done
fi

# No meson wheel is needed: scripts/fetch-meson.sh provides meson.
printf '%s\n' "$version" "debian-patches:$applied" > "$work/tree/.gmempv-pristine" ||
	die "cannot write $work/tree/.gmempv-pristine"
rm -rf "$dest" || die "cannot remove the old $dest"
mv "$work/tree" "$dest" || die "cannot move the tree to $dest"
log "QEMU $version at $dest"
