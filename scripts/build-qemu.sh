#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Configure (when needed) and build gmem-pv's QEMU: x86_64-softmmu, KVM only,
# the devices of qemu/configs/devices/x86_64-softmmu/gmem-pv.mak, every
# optional feature off.
#
#   build-qemu.sh SRC OBJ PYTHON     (make qemu: build/qemu-src build/qemu
#                                     build/tools/meson/venv/bin/python3)
#
# CC (default gcc; the Makefile passes "ccache gcc") and JOBS come from the
# environment.  configure runs again only when its options changed (they
# are kept in OBJ/.gmempv-configure); otherwise make (ninja, then the x86
# option ROMs) rebuilds what changed.  OBJ/.gmempv-qemu is the stamp: the
# version and the configure options of the binary OBJ/qemu-system-x86_64.
set -Eeuo pipefail
shopt -s inherit_errexit

src=$(cd "${1:?usage: build-qemu.sh SRC OBJ PYTHON}" && pwd)
obj=${2:?usage: build-qemu.sh SRC OBJ PYTHON}
python=${3:?usage: build-qemu.sh SRC OBJ PYTHON}
cc=${CC:-gcc}
jobs=${JOBS:-$(nproc)}
die() { echo "build-qemu: error: $*" >&2; exit 1; }
trap 'echo "build-qemu: error: unexpected failure at line $LINENO: $BASH_COMMAND" >&2' ERR

[ -x "$python" ] || die "no $python: run scripts/fetch-meson.sh (scripts/install-deps.sh does)"

opts=(
	--python="$python"
	--cc="$cc"
	--target-list=x86_64-softmmu
	--enable-kvm --disable-tcg
	# only the devices named in configs/devices/x86_64-softmmu/gmem-pv.mak
	--without-default-devices --with-devices-x86_64=gmem-pv
	# every optional feature off (no display, audio, slirp, tools, ...),
	# then what is needed: libfdt for microvm's device tree
	--without-default-features
	--enable-fdt=system
	--audio-drv-list=
	--disable-docs --disable-install-blobs --disable-download
	--disable-plugins --disable-debug-info
)

want=$(printf '%s\n' "${opts[@]}")
if [ ! -f "$obj/build.ninja" ] || [ "$(cat "$obj/.gmempv-configure" 2>/dev/null)" != "$want" ]; then
	echo "  QEMU    configure (x86_64-softmmu, KVM, devices: gmem-pv.mak)"
	rm -rf "$obj"
	mkdir -p "$obj"
	if ! (cd "$obj" && "$src/configure" "${opts[@]}") > "$obj/../qemu-configure.log" 2>&1; then
		tail -n 30 "$obj/../qemu-configure.log" >&2
		die "configure failed, see $obj/../qemu-configure.log"
	fi
	mv "$obj/../qemu-configure.log" "$obj/configure.log"
	echo "$want" > "$obj/.gmempv-configure"
fi

echo "  QEMU    building with $cc, -j$jobs"
rm -f "$obj/.gmempv-qemu"
make -s -C "$obj" -j"$jobs" > "$obj/build.log" 2>&1 || {
	grep -E 'error|Error' "$obj/build.log" | head -n 30 >&2
	die "build failed, see $obj/build.log"
}
[ -x "$obj/qemu-system-x86_64" ] || die "the build made no $obj/qemu-system-x86_64"
for rom in linuxboot_dma.bin pvh.bin; do
	[ -f "$obj/pc-bios/optionrom/$rom" ] || die "the build made no option ROM $rom"
done
{ "$obj/qemu-system-x86_64" --version | head -n 1; echo "$want"; } > "$obj/.gmempv-qemu"
echo "  QEMU    $obj/qemu-system-x86_64"
