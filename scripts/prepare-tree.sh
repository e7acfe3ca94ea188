#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Lay the project over a pristine kernel tree and apply its hook series.
#
#   prepare-tree.sh TREE
#
# Overlay: every file of the project's kernel-side folders is symlinked into
# TREE at its kernel path (see map below), so editing a project file and
# re-running make rebuilds just what depends on it.  A project file must never
# shadow a file of the pristine tree: changes to kernel files are patches.
#
# Series: patches/series lists the hook patches in order.  Like quilt, the
# patches already applied are remembered (build/applied/); when the series
# changes, the applied patches from the first one that differs onwards are
# reverted in reverse order and the new ones applied, so unchanged kernel files
# keep their timestamps.  A patch that does not apply stops the build, naming
# the patch.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tree=${1:?usage: prepare-tree.sh TREE}
tree=$(cd "$tree" && pwd)
state=$top/build/applied
die() { echo "prepare-tree: error: $*" >&2; exit 1; }

[ -f "$tree/.gmempv-pristine" ] || die "$tree is not a tree made by fetch-kernel.sh"

# project folder -> tree folder
map=(
	"guest:."
	"host:."
	"include:include"
	"Documentation:Documentation"
	"tests/kunit:."
	"tests/selftests/kvm:tools/testing/selftests/kvm/gmem_pv"
)

# ---- series -----------------------------------------------------------------
mkdir -p "$state"
mapfile -t want < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$top/patches/series" 2>/dev/null || true)
mapfile -t have < <(cat "$state/series" 2>/dev/null || true)

# First index at which the applied series and the wanted one differ.
keep=0
while [ $keep -lt ${#have[@]} ] && [ $keep -lt ${#want[@]} ] &&
      [ "${have[$keep]}" = "${want[$keep]}" ] &&
      cmp -s "$state/${have[$keep]}" "$top/patches/${want[$keep]}"; do
	keep=$((keep + 1))
done

for ((i = ${#have[@]} - 1; i >= keep; i--)); do
	p=${have[$i]}
	echo "  UNAPPLY $p"
	patch -d "$tree" -p1 -R -s --batch --no-backup-if-mismatch < "$state/$p" ||
		die "cannot revert $p; remove $tree and build again"
	rm -f "$state/$p"
	printf '%s\n' "${have[@]:0:$i}" > "$state/series"
	[ "$i" -gt 0 ] || : > "$state/series"
done

for ((i = keep; i < ${#want[@]}; i++)); do
	p=${want[$i]}
	[ -f "$top/patches/$p" ] || die "patches/series names $p, which does not exist"
	echo "  APPLY   $p"
	if ! patch -d "$tree" -p1 -s --batch --forward --no-backup-if-mismatch --dry-run \
			< "$top/patches/$p" > "$state/.log" 2>&1; then
		cat "$state/.log" >&2
		die "patch $p does not apply to $(cat "$tree/.gmempv-pristine")"
	fi
	patch -d "$tree" -p1 -s --batch --forward --no-backup-if-mismatch < "$top/patches/$p"
	cp "$top/patches/$p" "$state/$p"
	printf '%s\n' "${want[@]:0:$((i + 1))}" > "$state/series"
done

# ---- overlay ----------------------------------------------------------------
links=$state/overlay.list
touch "$links"
new=$(mktemp)
trap 'rm -f "$new"' EXIT

link_one() {	# link_one SRC DST
	local src=$1 dst=$2
	if [ -L "$dst" ]; then
		[ "$(readlink "$dst")" = "$src" ] && return 0
		grep -qxF "$dst" "$links" || die "$dst is a symlink the project did not make"
		rm -f "$dst"
	elif [ -e "$dst" ]; then
		die "${src#"$top"/} would shadow the kernel's ${dst#"$tree"/}: change kernel files with a patch"
	fi
	mkdir -p "$(dirname "$dst")"
	ln -s "$src" "$dst"
}

for m in "${map[@]}"; do
	from=$top/${m%%:*}
	to=$tree/${m#*:}
	[ -d "$from" ] || continue
	while IFS= read -r -d '' f; do
		rel=${f#"$from"/}
		dst=$to/$rel
		dst=${dst//\/.\//\/}
		link_one "$f" "$dst"
		echo "$dst" >> "$new"
	done < <(find "$from" -type f ! -name '*.orig' ! -name '*.rej' ! -name '.*' -print0)
done
link_one "$top/Kconfig" "$tree/gmem-pv/Kconfig"
echo "$tree/gmem-pv/Kconfig" >> "$new"

# Drop links to project files that no longer exist.
sort -u "$new" -o "$new"
sort -u "$links" | comm -23 - "$new" | while IFS= read -r stale; do
	[ -L "$stale" ] && rm -f "$stale"
done
cp "$new" "$links"
