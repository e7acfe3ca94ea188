#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Put a meson new enough for QEMU 10.0 (>= 1.5) at $1 (default build/tools/meson).
#
# Debian 12 has meson 1.0.1; bookworm-backports has 1.7.  QEMU's +ds source
# tarball carries no meson wheel and PyPI is not reachable, so the .deb of
# bookworm-backports is downloaded with a private apt configuration (its own
# source list, state and cache; the system's sources are never changed), on
# the Debian mirror scripts/fetch-kernel.sh finds (GMEMPV_DEBIAN_MIRROR
# overrides it).  apt checks the index against the archive's signed Release
# (signed-by Debian's archive keyring) and the .deb against the index; the
# SHA256 is compared once more here.  The .deb is unpacked with dpkg-deb -x,
# never installed.
#
# Then a Python virtual environment at $1/venv (system site packages on)
# gets links to the unpacked meson in its site-packages, so QEMU's
# configure, given --python=$1/venv/bin/python3, finds meson as a package
# of its parent environment (python/scripts/mkvenv.py: a venv made inside
# a venv sees the parent's packages) and makes pyvenv/bin/meson from its
# entry point.
#
#   GMEMPV_MESON_DEB=path   use this meson .deb instead of downloading one
#
# Idempotent: a complete $1 (stamp file .gmempv-meson) is left alone.
set -Eeuo pipefail
shopt -s inherit_errexit

top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$top/build/tools/meson}
suite=bookworm-backports
python=${GMEMPV_PYTHON:-/usr/bin/python3}

die() { echo "fetch-meson: error: $*" >&2; exit 1; }
log() { echo "fetch-meson: $*" >&2; }
. "$(dirname "$0")/private-apt.sh"
trap 'echo "fetch-meson: error: unexpected failure at line $LINENO: $BASH_COMMAND" >&2' ERR

[ -f "$dest/.gmempv-meson" ] && exit 0

mkdir -p "${dest%/*}" || die "cannot create ${dest%/*}"
work=$(mktemp -d "${dest%/*}/.meson.XXXXXX") || die "cannot create a temporary directory in ${dest%/*}"
trap 'rm -rf "$work"' EXIT

download_deb() {
	local mirrors mirror aptdir keyring info ver sum got deb tried=
	keyring=${GMEMPV_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
	[ -r "$keyring" ] ||
		die "Debian's archive keyring $keyring is missing (install debian-archive-keyring or set GMEMPV_DEBIAN_KEYRING)"
	mirrors=$("$top/scripts/fetch-kernel.sh" --print-mirrors) ||
		die "no Debian mirror (scripts/fetch-kernel.sh --print-mirrors failed, its message above)"
	aptdir=$work/apt
	private_apt_init "$aptdir"
	local opts=(-c "$aptdir/apt.conf")
	for mirror in $mirrors; do
		echo "deb [signed-by=$keyring target=Packages] $mirror $suite main" \
			> "$aptdir/sources.list" || die "cannot write $aptdir/sources.list"
		log "reading $suite from $mirror"
		apt-get "${opts[@]}" -qq --error-on=any update && break
		log "warning: apt-get update of $suite from $mirror failed (apt's message above)"
		tried="$tried $mirror"
		mirror=
	done
	[ -n "$mirror" ] || die "no mirror served a signed $suite (tried:$tried)"
	info=$(apt-cache "${opts[@]}" show --no-all-versions meson 2>/dev/null) ||
		die "meson is not in $suite on $mirror"
	ver=$(sed -n 's/^Version: //p' <<<"$info")
	sum=$(sed -n 's/^SHA256: //p' <<<"$info")
	[ -n "$ver" ] && [ -n "$sum" ] || die "the archive's entry for meson has no Version or SHA256"
	dpkg --compare-versions "$ver" ge 1.5 || die "$suite has meson $ver, QEMU 10.0 needs >= 1.5"
	log "downloading meson $ver from $mirror"
	(cd "$aptdir/dl" && apt-get "${opts[@]}" -qq download "meson=$ver") ||
		die "download of meson $ver from $mirror failed (apt's message above)"
	deb=$(find "$aptdir/dl" -maxdepth 1 -name 'meson_*.deb' -print -quit)
	[ -n "$deb" ] || die "apt-get download left no meson_*.deb in $aptdir/dl"
	got=$(sha256sum "$deb" | cut -d ' ' -f 1) || die "cannot checksum $deb"
	[ "$got" = "$sum" ] || die "checksum mismatch for $(basename "$deb"): archive says $sum, file has $got"
	log "verified $(basename "$deb") against the archive's Packages (sha256 $sum)"
	mv "$deb" "$work/meson.deb"
}

if [ -n "${GMEMPV_MESON_DEB:-}" ]; then
	[ -f "$GMEMPV_MESON_DEB" ] || die "GMEMPV_MESON_DEB=$GMEMPV_MESON_DEB does not exist"
	cp "$GMEMPV_MESON_DEB" "$work/meson.deb"
else
	command -v apt-get >/dev/null || die "no apt-get to download meson; set GMEMPV_MESON_DEB"
	download_deb
fi

ver=$(dpkg-deb -f "$work/meson.deb" Version) || die "$work/meson.deb is not a .deb"
dpkg --compare-versions "$ver" ge 1.5 || die "meson $ver is too old, QEMU 10.0 needs >= 1.5"
mkdir "$work/tree"
dpkg-deb -x "$work/meson.deb" "$work/tree" || die "cannot unpack meson $ver"
pkgs=$work/tree/usr/lib/python3/dist-packages
[ -d "$pkgs/mesonbuild" ] || die "meson $ver has no usr/lib/python3/dist-packages/mesonbuild"

# The venv is made where it will live: its scripts name their own path.
mv "$work/tree" "$work/final"
rm -rf "$dest"
mv "$work/final" "$dest"
"$python" -m venv --system-site-packages "$dest/venv" ||
	die "cannot make a venv with $python (install python3-venv)"
site=$("$dest/venv/bin/python3" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
# Links, not a .pth file: QEMU's nested venv adds the parent's
# site-packages to its path, where a .pth is not read.
for f in "$dest"/usr/lib/python3/dist-packages/*; do
	ln -s "$f" "$site/${f##*/}"
done
got=$(cd / && "$dest/venv/bin/python3" -c 'import importlib.metadata as m; print(m.version("meson"))') ||
	die "the venv at $dest/venv does not see meson"
[ "$got" = "${ver%%-*}" ] || die "the venv sees meson $got, unpacked $ver"
echo "$ver" > "$dest/.gmempv-meson"
log "meson $ver at $dest (python: $dest/venv/bin/python3)"
