#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Make the one .config that serves as L1 host and L2 guest:
#   tinyconfig + kernel/configs/kvm_guest.config + configs/gmem-pv.config
# then check that every line of the project fragment survived olddefconfig,
# so that a dependency Kconfig silently refused never goes unnoticed.
#
#   kconfig.sh SRCTREE OBJTREE FRAGMENT...
#
# Fragments merge in order; a later one's line for a symbol wins.
set -euo pipefail

src=$1 obj=$2
shift 2
die() { echo "kconfig: error: $*" >&2; exit 1; }

mkdir -p "$obj"
make -s -C "$src" O="$obj" tinyconfig >/dev/null
"$src"/scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" \
	"$src/kernel/configs/kvm_guest.config" "$@" >/dev/null
make -s -C "$src" O="$obj" olddefconfig >/dev/null

# Every symbol a fragment names must have the value of the last fragment
# that names it (configs/bench.config overrides configs/gmem-pv.config).
declare -A want from
for frag in "$@"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) sym=${line%%=*} ;;
		"# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *} ;;
		*) continue ;;
		esac
		want[$sym]=$line from[$sym]=$frag
	done < "$frag"
done

bad=0
for sym in "${!want[@]}"; do
	line=${want[$sym]} frag=${from[$sym]}
	case "$line" in
	CONFIG_*=*)
		grep -qxF "$line" "$obj/.config" || {
			echo "kconfig: $frag: wanted '$line', got '$(grep -E "^(# )?${sym}[= ]" "$obj/.config" || echo unset)'" >&2
			bad=1
		} ;;
	*)
		if grep -qE "^$sym=" "$obj/.config"; then
			echo "kconfig: $frag: wanted $sym off, got '$(grep -E "^$sym=" "$obj/.config")'" >&2
			bad=1
		fi ;;
	esac
done
[ $bad = 0 ] || die "the config fragment did not apply; fix its dependencies"
echo "  CONFIG  $(grep -c '=[ym]$' "$obj/.config") options set"
