#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Make the QEMU tree `make qemu` builds: the pristine tree of
# scripts/fetch-qemu.sh with the project's qemu/ overlay laid over it and
# qemu/patches/series applied.
#
#   prepare-qemu-tree.sh [PRISTINE [TREE]]   (build/qemu-10.0.13, build/qemu-src)
#
# Overlay: every file under qemu/ except qemu/patches/ is symlinked into
# TREE at the same path (qemu/hw/i386/foo.c -> hw/i386/foo.c), so editing it
# rebuilds just what depends on it.  A project file must never shadow a file
# of the pristine tree: changes to QEMU's files are patches.
#
# Series: qemu/patches/series lists the hook patches, applied in order with
# patch -p1; one that does not apply stops, naming it.
#
# TREE is a copy of PRISTINE (which stays pristine, for a series against
# it).  Idempotent: TREE records a hash of the patches and the overlay's
# file list; while they are unchanged nothing is done.  When they change,
# TREE is made again from PRISTINE (cp -a keeps the timestamps, so the build
# stays incremental), and every file a patch touched, before or now, is
# touched so that a file back at its pristine content is rebuilt too.
set -Eeuo pipefail
shopt -s inherit_errexit

top=$(cd "$(dirname "$0")/.." && pwd)
pristine=${1:-$top/build/qemu-10.0.13}
tree=${2:-$top/build/qemu-src}
proj=$top/qemu
die() { echo "prepare-qemu-tree: error: $*" >&2; exit 1; }
trap 'echo "prepare-qemu-tree: error: unexpected failure at line $LINENO: $BASH_COMMAND" >&2' ERR

[ -f "$pristine/.gmempv-pristine" ] || die "$pristine is not a tree made by fetch-qemu.sh"

mapfile -t series < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^[[:space:]]*$/d' \
	"$proj/patches/series" 2>/dev/null || true)
for p in "${series[@]}"; do
	[ -f "$proj/patches/$p" ] || die "qemu/patches/series names $p, which does not exist"
done
mapfile -t overlay < <(cd "$proj" 2>/dev/null &&
	find . -path ./patches -prune -o -type f ! -name '*.orig' ! -name '*.rej' ! -name '.*' -print |
	sed 's|^\./||' | LC_ALL=C sort)

hash=$( { cat "$pristine/.gmempv-pristine"
	  for p in "${series[@]}"; do echo "patch $p"; sha256sum < "$proj/patches/$p"; done
	  printf 'file %s\n' "${overlay[@]}"; } | sha256sum | cut -d ' ' -f 1)
if [ -f "$tree/.gmempv-prepared" ] && [ "$(cat "$tree/.gmempv-prepared")" = "$hash" ]; then
	exit 0
fi

echo "  QEMU    preparing $tree (${#series[@]} patches, ${#overlay[@]} overlay files)"
mkdir -p "${tree%/*}"
new=$(mktemp -d "${tree%/*}/.qemu-src.XXXXXX") || die "cannot create a temporary tree"
trap 'rm -rf "$new"' EXIT
cp -a "$pristine/." "$new/" || die "cannot copy $pristine"
rm -f "$new/.gmempv-pristine"

: > "$new/.gmempv-touched"
for p in "${series[@]}"; do
	echo "  APPLY   qemu/patches/$p"
	if ! patch -d "$new" -p1 -s --batch --forward --no-backup-if-mismatch --dry-run \
			< "$proj/patches/$p" > "$new/.patch.log" 2>&1; then
		cat "$new/.patch.log" >&2
		die "patch qemu/patches/$p does not apply to QEMU $(head -n 1 "$pristine/.gmempv-pristine")"
	fi
	patch -d "$new" -p1 -s --batch --forward --no-backup-if-mismatch < "$proj/patches/$p"
	sed -n 's|^+++ [^/]*/\([^[:space:]]*\).*|\1|p' "$proj/patches/$p" >> "$new/.gmempv-touched"
done
rm -f "$new/.patch.log"

for rel in "${overlay[@]}"; do
	if [ -e "$new/$rel" ] || [ -L "$new/$rel" ]; then
		die "qemu/$rel would shadow QEMU's $rel: change QEMU's files with a patch"
	fi
	mkdir -p "$(dirname "$new/$rel")"
	ln -s "$proj/$rel" "$new/$rel"
done

# Files patched now or in the tree being replaced: newer than any object.
# .gmempv-touched keeps those patched now, for the next time.
sort -u -o "$new/.gmempv-touched" "$new/.gmempv-touched"
cat "$new/.gmempv-touched" "$tree/.gmempv-touched" 2>/dev/null | sort -u | while IFS= read -r rel; do
	[ -f "$new/$rel" ] && [ ! -L "$new/$rel" ] && touch "$new/$rel"
done

echo "$hash" > "$new/.gmempv-prepared"
rm -rf "$tree"
mv "$new" "$tree"
trap - EXIT
