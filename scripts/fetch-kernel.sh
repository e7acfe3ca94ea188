#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Put a pristine Linux 7.3 source tree at $1 (default build/linux-7.3).
#
# Sources, in order of preference:
#   GMEMPV_KERNEL_SRC   a local tarball (.tar, .tar.xz, ...) or an unpacked tree
#   ../shared/kernel/   the pinned linux-source-7.3 .deb, checked against SHA256SUMS
#   Debian's archive    linux-source-7.3 from trixie-backports, downloaded with a
#                       private apt configuration so the system's is not touched,
#                       from the Debian mirror of apt's enabled sources (or
#                       GMEMPV_DEBIAN_MIRROR), checked against the archive's
#                       signed metadata
#
# `fetch-kernel.sh --print-mirrors` prints the Debian mirrors the fallback
# would try, best first, and fetches nothing.
#
# The tree is extracted into a temporary directory and renamed into place, so
# an interrupted run never leaves a half tree behind.  Every failure prints
# one `fetch-kernel: error: ...` line saying what is missing.
set -Eeuo pipefail
shopt -s inherit_errexit

top=$(cd "$(dirname "$0")/.." && pwd)
shared=${GMEMPV_SHARED:-$top/../shared/kernel}
want_version=7.3

die() { echo "fetch-kernel: error: $*" >&2; exit 1; }
log() { echo "fetch-kernel: $*" >&2; }
. "$(dirname "$0")/private-apt.sh"
# A safety net: a failure no check below expected still says where it was.
trap 'echo "fetch-kernel: error: unexpected failure at line $LINENO: $BASH_COMMAND" >&2' ERR

if [ "${1:-}" = --print-mirrors ]; then
	print_mirrors=1
else
	print_mirrors=
	dest=${1:-$top/build/linux-7.3}
fi

if [ -z "$print_mirrors" ]; then
	[ -f "$dest/.gmempv-pristine" ] && exit 0
	mkdir -p "${dest%/*}" || die "cannot create ${dest%/*}"
	work=$(mktemp -d "${dest%/*}/.fetch.XXXXXX") || die "cannot create a temporary directory in ${dest%/*}"
	trap 'rm -rf "$work"' EXIT
fi

# Unpack a kernel tarball into $work/tree.
unpack_tarball() {
	log "unpacking $1"
	mkdir -p "$work/x"
	tar -xf "$1" -C "$work/x" || die "cannot unpack $1"
	local d
	d=$(find "$work/x" -mindepth 1 -maxdepth 1 -type d -print -quit)
	[ -n "$d" ] && [ -f "$d/Makefile" ] || die "$1 does not hold a kernel tree"
	mv "$d" "$work/tree"
}

# Unpack the tarball inside a linux-source .deb.
unpack_deb() {
	log "extracting $1"
	dpkg-deb --fsys-tarfile "$1" | tar -x -C "$work" --wildcards './usr/src/linux-source-*.tar.*' ||
		die "$1 holds no linux-source tarball"
	local tarball
	tarball=$(find "$work/usr/src" -maxdepth 1 -name 'linux-source-*.tar.*' -print -quit)
	[ -n "$tarball" ] || die "$1 holds no linux-source tarball"
	unpack_tarball "$tarball"
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

# ---- the Debian archive fallback --------------------------------------------
#
# Which mirror: the one this machine's apt already uses for Debian, as apt
# itself sees it.  `apt-get indextargets` prints what `apt-get update` would
# fetch, after apt's own parsing of sources.list and sources.list.d: one-line
# and deb822 entries alike, without entries marked `Enabled: no` and without
# files apt ignores (wrong extension, *.disabled, ...).  So nothing here
# re-implements apt's rules.  By default it leaves out sources whose Release
# file was never downloaded; APT::Get::IndexTargets::ReleaseInfo=no lists
# those too.  A second pass with the Release info gives Origin and Label
# where apt has them.
#
# A source counts as Debian's archive when apt knows its Release says
# Origin: Debian, Label: Debian (the security archive says Debian-Security
# and carries no backports), or, if apt has no Release for it yet, when its
# suite is a Debian suite name (a codename or stable/testing/..., plain or
# -updates/-backports/-proposed-updates).  Candidates come in apt's order,
# known-Debian ones first.  A wrong guess costs one failed `apt-get update`:
# the private source is checked against Debian's archive keyring, so no
# other archive can stand in, and the next candidate is tried.
#
# APT_CONFIG is honoured as apt honours it; the harness uses it to point apt
# at fake roots (tests/harness/test_fetch_kernel.py).
debian_suite_re='^(buster|bullseye|bookworm|trixie|forky|duke|sid|oldoldstable|oldstable|stable|testing|unstable|experimental)(-updates|-backports|-backports-sloppy|-proposed-updates)?$'

list_debian_mirrors() {
	local all known tab=$'\t'
	all=$(apt-get -o APT::Get::IndexTargets::ReleaseInfo=no indextargets \
		--format "\$(REPO_URI)$tab\$(RELEASE)") ||
		die "apt-get indextargets failed, so apt's sources cannot be read (apt's message above)"
	known=$(apt-get indextargets --format "\$(REPO_URI)$tab\$(RELEASE)$tab\$(ORIGIN)$tab\$(LABEL)") ||
		die "apt-get indextargets failed, so apt's sources cannot be read (apt's message above)"
	if [ -z "$all" ]; then
		local sl='' sp=''
		eval "$(apt-config shell sl Dir::Etc::sourcelist/f sp Dir::Etc::sourceparts/d 2>/dev/null || true)"
		die "apt has no enabled sources (looked in ${sl:-sources.list} and ${sp:-sources.list.d/}*.list, *.sources); set GMEMPV_DEBIAN_MIRROR to a Debian archive URL or GMEMPV_KERNEL_SRC to a kernel source"
	fi
	local mirrors
	mirrors=$(awk -F '\t' -v re="$debian_suite_re" '
		FNR == NR { origin[$1 FS $2] = $3; label[$1 FS $2] = $4; next }
		$1 ~ /^cdrom:/ { next }
		{
			k = $1 FS $2
			if (k in origin) {
				if (origin[k] != "Debian" || label[k] != "Debian")
					next
				rank = 0
			} else if ($2 ~ re) {
				rank = 1
			} else {
				next
			}
			if (!($1 in seen)) { seen[$1] = 1; order[rank, n[rank]++] = $1 }
		}
		END {
			for (r = 0; r < 2; r++)
				for (i = 0; i < n[r]; i++)
					print order[r, i]
		}' <(printf '%s\n' "$known") <(printf '%s\n' "$all")) ||
		die "awk failed while reading apt's sources"
	if [ -z "$mirrors" ]; then
		local seen_uris
		seen_uris=$(printf '%s\n' "$all" | awk -F '\t' '{ print $1 " " $2 }' | sort -u | paste -sd, - | sed 's/,/, /g')
		die "no enabled Debian archive among apt's sources (enabled: $seen_uris); set GMEMPV_DEBIAN_MIRROR to a Debian archive URL or GMEMPV_KERNEL_SRC to a kernel source"
	fi
	printf '%s\n' "$mirrors"
}

# Download linux-source-7.3 from trixie-backports with a private apt
# configuration (its own source list, state and cache under $work; the
# system's apt.conf.d still applies, for proxies and the like), verify it
# against the SHA256 of the archive's signed Packages file and unpack it.
fetch_from_apt() {
	local mirrors mirror aptdir keyring deb info ver sum got tried=
	keyring=${GMEMPV_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
	[ -r "$keyring" ] ||
		die "Debian's archive keyring $keyring is missing (install debian-archive-keyring or set GMEMPV_DEBIAN_KEYRING)"
	if [ -n "${GMEMPV_DEBIAN_MIRROR:-}" ]; then
		mirrors=$GMEMPV_DEBIAN_MIRROR
	else
		mirrors=$(list_debian_mirrors) || exit 1
	fi
	aptdir=$work/apt
	private_apt_init "$aptdir"
	local opts=(-c "$aptdir/apt.conf")
	for mirror in $mirrors; do
		# Only the Packages index: no DEP-11, Contents, ... whatever the
		# system's apt.conf.d enables.
		echo "deb [signed-by=$keyring target=Packages] $mirror trixie-backports main" \
			> "$aptdir/sources.list" || die "cannot write $aptdir/sources.list"
		log "reading trixie-backports from $mirror"
		if apt-get "${opts[@]}" -qq --error-on=any update; then
			break
		fi
		log "warning: apt-get update of trixie-backports from $mirror failed (apt's message above)"
		tried="$tried $mirror"
		mirror=
	done
	[ -n "$mirror" ] || die "no mirror served a signed trixie-backports (tried:$tried)"
	info=$(apt-cache "${opts[@]}" show --no-all-versions "linux-source-$want_version" 2>/dev/null) ||
		die "linux-source-$want_version is not in trixie-backports on $mirror"
	ver=$(sed -n 's/^Version: //p' <<<"$info")
	sum=$(sed -n 's/^SHA256: //p' <<<"$info")
	[ -n "$ver" ] && [ -n "$sum" ] ||
		die "the archive's entry for linux-source-$want_version has no Version or SHA256"
	log "downloading linux-source-$want_version $ver from $mirror"
	(cd "$aptdir/dl" && apt-get "${opts[@]}" -qq download "linux-source-$want_version=$ver") ||
		die "download of linux-source-$want_version $ver from $mirror failed (apt's message above)"
	deb=$(find "$aptdir/dl" -maxdepth 1 -name "linux-source-${want_version}_*.deb" -print -quit)
	[ -n "$deb" ] || die "apt-get download left no linux-source-${want_version}_*.deb in $aptdir/dl"
	got=$(sha256sum "$deb" | cut -d ' ' -f 1) || die "cannot checksum $deb"
	[ "$got" = "$sum" ] ||
		die "checksum mismatch for $(basename "$deb"): archive says $sum, file has $got"
	log "verified $(basename "$deb") against the archive's Packages (sha256 $sum)"
	unpack_deb "$deb"
}

if [ -n "$print_mirrors" ]; then
	command -v apt-get >/dev/null || die "apt-get is not installed"
	if [ -n "${GMEMPV_DEBIAN_MIRROR:-}" ]; then
		echo "$GMEMPV_DEBIAN_MIRROR"
	else
		list_debian_mirrors
	fi
	exit 0
fi

if [ -n "${GMEMPV_KERNEL_SRC:-}" ]; then
	if [ -d "$GMEMPV_KERNEL_SRC" ]; then
		[ -f "$GMEMPV_KERNEL_SRC/Makefile" ] || die "GMEMPV_KERNEL_SRC=$GMEMPV_KERNEL_SRC is not a kernel tree"
		log "copying tree $GMEMPV_KERNEL_SRC"
		cp -a "$GMEMPV_KERNEL_SRC" "$work/tree" || die "cannot copy $GMEMPV_KERNEL_SRC"
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
		die "no kernel source: no $shared/linux-source-${want_version}_*_all.deb and no apt-get for the fallback; set GMEMPV_KERNEL_SRC"
	fi
fi

version=$(make -s -C "$work/tree" kernelversion 2>/dev/null || true)
case "$version" in
"$want_version".*|"$want_version") ;;
*) die "expected Linux $want_version, got '${version:-unknown}'" ;;
esac

# Stamp it so later steps know the tree is complete and which it is.
echo "$version" > "$work/tree/.gmempv-pristine" || die "cannot write $work/tree/.gmempv-pristine"
rm -rf "$dest" || die "cannot remove the old $dest"
mv "$work/tree" "$dest" || die "cannot move the tree to $dest"
log "Linux $version at $dest"
