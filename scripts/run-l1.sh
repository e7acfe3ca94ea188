#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the L1 test machine: QEMU TCG with nested SVM and NPT.  The kernel
# log goes to OUTDIR/console.log (ttyS0), what the tests print to
# OUTDIR/results.log (ttyS1), which is also shown here as it arrives.
#
#   run-l1.sh MODE BZIMAGE INITRAMFS OUTDIR
#
# GMEMPV_ONLY=GLOBS (comma-separated shell globs, e.g. 'gmem_pv/*,*in_place')
# runs only the suites whose names match, for quick iterations; it is not a full check.
# GMEMPV_QEMU_TIMEOUT (seconds, default 2400) bounds the whole run; the
# suites have their own timeouts inside.  GMEMPV_QEMU_MEM / GMEMPV_QEMU_SMP
# size the machine; GMEMPV_QEMU_ACCEL is the -accel argument.
# GMEMPV_BENCH_KERNEL (bench or test, set by `make bench`) names the kernel
# in the first line.
#
# MODE check-smp is the second boot of `make check`: two CPUs under
# single-threaded TCG whatever GMEMPV_QEMU_SMP/GMEMPV_QEMU_ACCEL say,
# because multi-threaded TCG mixes L1 and L2 state under SMP races (see
# Documentation/virt/gmem-pv/build-and-test.rst), and no KUnit at boot
# (the first boot reports it).
set -euo pipefail

mode=$1 kernel=$2 initrd=$3 outdir=$4
limit=${GMEMPV_QEMU_TIMEOUT:-2400}
mem=${GMEMPV_QEMU_MEM:-4G}
smp=${GMEMPV_QEMU_SMP:-2}
accel=${GMEMPV_QEMU_ACCEL:-tcg}
extra=
if [ "$mode" = check-smp ]; then
	smp=2
	accel=tcg,thread=single
	extra=" kunit.enable=0"
fi
if [ "$mode" = boots ]; then
	extra=" gmempv.boots=${GMEMPV_BOOTS:-20}"
fi

command -v qemu-system-x86_64 >/dev/null ||
	{ echo "run-l1: error: qemu-system-x86_64 not found: apt-get install qemu-system-x86" >&2; exit 1; }

mkdir -p "$outdir"
rm -f "$outdir/console.log" "$outdir/results.log"
: > "$outdir/results.log"

start=$(date +%s)
echo "  QEMU    L1: -accel $accel -cpu EPYC,+svm,+npt -smp $smp -m $mem (mode=$mode${GMEMPV_BENCH_KERNEL:+, ${GMEMPV_BENCH_KERNEL} kernel}, limit ${limit}s)"
timeout -s KILL "$limit" qemu-system-x86_64 \
	-accel "$accel" -cpu EPYC,+svm,+npt -smp "$smp" -m "$mem" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 oops=panic no_hash_pointers kasan.fault=report gmempv.mode=$mode$extra${GMEMPV_ONLY:+ gmempv.only=$GMEMPV_ONLY}" \
	-display none -monitor none -no-reboot \
	-serial "file:$outdir/console.log" \
	-serial "file:$outdir/results.log" \
	> "$outdir/qemu.log" 2>&1 &
qemu=$!

tail -n +1 -f --pid=$qemu "$outdir/results.log" |
	sed -u -e 's/^GMEMPV-SUITE-BEGIN \(.*\)/=== \1/' -e 's/^GMEMPV-SUITE-END \(.*\)/=== end \1/' -e '/^GMEMPV-/d' || true
wait $qemu && rc=0 || rc=$?
echo "  QEMU    exited with $rc after $(( $(date +%s) - start ))s; kernel log: $outdir/console.log"
if [ $rc = 137 ]; then
	echo "run-l1: error: the test machine was killed after ${limit}s" >&2
fi
grep -v "TCG doesn.t support requested feature" "$outdir/qemu.log" | sed "s/^/  qemu: /" >&2 || true
exit 0
