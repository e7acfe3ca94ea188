#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The project's QEMU changes as a git format-patch series against QEMU
# 10.0.13, for users who apply them to their own QEMU with git am:
# qemu/patches/series in order, each new file of the qemu/ overlay folded
# into the first patch that names it (its meson.build line) or names the
# .c file beside it (a header), so that every patch builds.
#
#   qemu-patches.sh PRISTINE GITDIR OUTDIR
#        (make qemu-patches: build/qemu-10.0.13 build/qemu-patches-git
#         build/qemu-patches)
#
# GITDIR is a git repository of PRISTINE (tag base), made once; OUTDIR gets
# NNNN-*.patch, which `git am` applies to base, or to upstream's v10.0.13
# (the patches touch no file Debian's +ds tarball changed).  The result is
# checked: the tree after the series must equal PRISTINE with the overlay
# laid in and the hook patches applied (build/qemu-src, made by
# prepare-qemu-tree.sh), file by file.
set -Eeuo pipefail
shopt -s inherit_errexit

top=$(cd "$(dirname "$0")/.." && pwd)
pristine=${1:?usage: qemu-patches.sh PRISTINE GITDIR OUTDIR}
gitdir=${2:?usage: qemu-patches.sh PRISTINE GITDIR OUTDIR}
out=${3:?usage: qemu-patches.sh PRISTINE GITDIR OUTDIR}
proj=$top/qemu
mkdir -p "$out"
out=$(cd "$out" && pwd)
gitdir=$(mkdir -p "$(dirname "$gitdir")" && cd "$(dirname "$gitdir")" && pwd)/${gitdir##*/}
die() { echo "qemu-patches: error: $*" >&2; exit 1; }
trap 'echo "qemu-patches: error: unexpected failure at line $LINENO: $BASH_COMMAND" >&2' ERR

[ -f "$pristine/.gmempv-pristine" ] || die "$pristine is not a tree made by fetch-qemu.sh"
export GIT_AUTHOR_NAME="gmem-pv developers" GIT_AUTHOR_EMAIL="gmem-pv@localhost"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
g() { git -C "$gitdir" -c safe.directory="$gitdir" -c core.autocrlf=false -c advice.detachedHead=false "$@"; }

if ! g rev-parse -q --verify base >/dev/null 2>&1; then
	echo "  GIT     $gitdir (QEMU $(head -n 1 "$pristine/.gmempv-pristine"), tag base)"
	rm -rf "$gitdir"
	cp -a --no-preserve=ownership "$pristine" "$gitdir"
	rm -f "$gitdir/.gmempv-pristine"
	g init -q
	g add -A -f .
	g commit -q -m "QEMU $(head -n 1 "$pristine/.gmempv-pristine")"
	g tag base
fi
g checkout -q -f base
g clean -q -fdx

mapfile -t series < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' "$proj/patches/series")
mapfile -t overlay < <(cd "$proj" && find . -path ./patches -prune -o -path ./configs -prune -o \
	-type f ! -name '*.orig' ! -name '*.rej' ! -name '.*' -print | sed 's|^\./||' | LC_ALL=C sort)

# which patch each overlay file joins
declare -A joins
for rel in "${overlay[@]}"; do
	base=${rel##*/}
	stem=${base%.*}
	for p in "${series[@]}"; do
		if grep -q -e "'$base'" -e "'$stem.c'" "$proj/patches/$p"; then
			joins[$rel]=$p
			break
		fi
	done
	[ -n "${joins[$rel]:-}" ] || die "qemu/$rel is named by no patch of qemu/patches/series (its meson.build line)"
done

for p in "${series[@]}"; do
	g am -q --keep-cr "$proj/patches/$p" || { g am --abort || true; die "qemu/patches/$p does not apply with git am"; }
	added=0
	for rel in "${overlay[@]}"; do
		[ "${joins[$rel]}" = "$p" ] || continue
		mkdir -p "$gitdir/$(dirname "$rel")"
		cp "$proj/$rel" "$gitdir/$rel"
		g add "$rel"
		added=$((added + 1))
	done
	[ $added = 0 ] || g commit -q --amend --no-edit
done

rm -rf "$out"
mkdir -p "$out"
g format-patch -q --no-signature --zero-commit -o "$out" base..HEAD
n=$(ls "$out" | wc -l)

# the series gives exactly the tree make qemu builds
if [ -d "$top/build/qemu-src" ]; then
	bad=0
	for f in $(g diff --name-only base HEAD); do
		cmp -s "$gitdir/$f" "$top/build/qemu-src/$f" || { echo "qemu-patches: $f differs from build/qemu-src" >&2; bad=1; }
	done
	[ $bad = 0 ] || die "the series does not give the tree make qemu builds (run make qemu-tree first)"
fi
echo "  PATCHES $out: $n patches against QEMU $(head -n 1 "$pristine/.gmempv-pristine") (git am onto v10.0.13)"
