#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end tests of the protected guest, run in L1: each boots an L2
# guest (the same bzImage) with the reference VMM and prints TAP.
#
#   e2e.sh protected_boot | disk_roundtrip | no_driver_fails_cleanly |
#          private_probe | require_unprotected_panics |
#          smp_conversion_load | share_no_stale | hint_after_free |
#          fail_share_leaks | ram_outside_gmem_refused |
#          pinned_ram_refused | e820_hole_refused | demo | boot_count |
#          cpu_hotplug
#
# demo is `make run`'s job: a protected and an unprotected guest doing the
# same disk round trip, the private-page probe, and a short report.

. "$(dirname "$0")/../lib/tap.sh"

V=${GMEMVM_DIR:-/tests/vmm}
MB=16

# run_vmm NAME VMM-ARGS...: boot a guest; its log is /tmp/e2e-NAME.log
# (shown as TAP comments), its exit status in $rc.
# With --no-devices first: no disk and no virtio-rng.  With $PIN set
# (pin_to_one_l1_cpu), the VMM and all its threads run on that L1 CPU.
run_vmm() {
	name=$1
	shift
	log=/tmp/e2e-$name.log
	rm -f /tmp/e2e-$name.disk
	if [ "$1" = --no-devices ]; then
		shift
		set -- --no-rng "$@"
	else
		dd if=/dev/zero of=/tmp/e2e-$name.disk bs=1M count=64 2>/dev/null
		set -- -d /tmp/e2e-$name.disk "$@"
	fi
	# KUnit ran in L1; in the guest its stubbed conversions would be
	# counted in the driver's debugfs counters the tests read.
	set -- "$@" -a "kunit.enable=0"
	echo "# ${PIN:+taskset -c $PIN }gmem-vmm $*"
	# The guest's console lines end in CR LF.
	${PIN:+taskset -c $PIN} $V/gmem-vmm -k $V/bzImage -i $V/guest.cpio \
		-t "${GMEMVM_TIMEOUT:-480}" "$@" < /dev/null > "$log.raw" 2>&1
	rc=$?
	tr -d '\r' < "$log.raw" > "$log"
	rm -f "$log.raw"
	sed -e 's/^/# /' "$log"
	echo "# exit status $rc"
}

# The VMM's VM-wide KVM stats line (not its per-vCPU VCPU-STATS lines).
VMSTATS='gmem-vmm: STATS '

field() {	# field KEY LINE-PREFIX: value of KEY=... on the last such line
	grep "$2" "$log" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}

no_splat() {
	! grep -q -E 'BUG:|WARNING:|Oops|Kernel panic|UBSAN:|general protection|Call Trace:|rcu: INFO' "$log"
}

# The guest's checksums agree with each other and with the host's file.
disk_ok() {
	set -- $(grep 'GUEST-DISK-SUM' "$log" | tail -1 | tr ' ' '\n' | sed -n 's/^\(wrote\|read\)=//p')
	host=$(head -c $((MB * 1048576)) /tmp/e2e-$name.disk | sha256sum | cut -d' ' -f1)
	echo "# guest wrote $1, read back $2; host file has $host"
	[ -n "$1" ] && [ "$1" = "$2" ] && [ "$1" = "$host" ]
}

# MB/s of the guest's GUEST-DISK-WRITE/READ line
speed() {
	grep "$1" "$log" | tail -1 | sed -n 's/.* mbps=\([0-9.]*\).*/\1 MB\/s/p'
}

# share2m: percent of private guest RAM KVM maps at 2 MiB (pages_2m counts
# 2 MiB mappings, each 512 pages) from the last STATS line of $log.
share2m() {
	awk -v m="$(field pages_2m "$VMSTATS")" -v g="$(field guest_pages "$VMSTATS")" \
	    -v s="$(field shared_pages_end "$VMSTATS")" \
	    'BEGIN { if (g - s > 0) printf "%.1f", 100 * m * 512 / (g - s); else print "?" }'
}

# mapped2m: percent of the guest memory KVM has mapped that it maps at
# 2 MiB.  pages_4k counts shared mappings too, so this is a lower bound for
# private memory.  Integer, for test's -ge.
mapped2m() {
	awk -v m="$(field pages_2m "$VMSTATS")" -v k="$(field pages_4k "$VMSTATS")" \
	    'BEGIN { if (m * 512 + k > 0) printf "%d", 100 * m * 512 / (m * 512 + k); else print 0 }'
}

# Shared GPAs by identity.  The guest's driver keeps the ranges the host
# confirmed shared (debugfs shared_ranges, printed as GUEST-SHARED-RANGE
# lines, with their number and md5 on GUEST-GMEMPV at the end or on
# GUEST-CPUHP-COUNTERS per round); the VMM logs the guest_memfd's shared
# extents (SHARED-EXTENT call=N when the guest asks, call=exit when it
# exits, every vCPU stopped).  The guest prints its list before it asks or
# exits, so a conversion in between would show here as a difference,
# never hide one.

# merge_ranges: "START END" lines, sorted, with touching ones merged
merge_ranges() {
	mr_s= mr_e=
	while read -r mr_a mr_b; do
		if [ -n "$mr_e" ] && [ "$((mr_a))" -le "$((mr_e))" ]; then
			[ "$((mr_b))" -gt "$((mr_e))" ] && mr_e=$mr_b
		else
			[ -n "$mr_s" ] && echo "$mr_s $mr_e"
			mr_s=$mr_a mr_e=$mr_b
		fi
	done
	[ -n "$mr_s" ] && echo "$mr_s $mr_e"
	return 0
}

# host_ranges CALL: the VMM's shared extents of report CALL (1, 2, ... or exit)
host_ranges() {
	grep "gmem-vmm: SHARED-EXTENT call=$1 " "$log" |
		sed 's/.* start=\([0-9a-fx]*\) end=\([0-9a-fx]*\).*/\1 \2/' |
		merge_ranges
}

# guest_ranges AT: the guest's list at AT (exit, or a cpuhp round)
guest_ranges() {
	sed -n "s/^GUEST-SHARED-RANGE at=$1 //p" "$log"
}

# ranges_pages: pages in the "START END" lines of stdin
ranges_pages() {
	rp_n=0
	while read -r mr_a mr_b; do
		rp_n=$((rp_n + (mr_b - mr_a) / 4096))
	done
	echo $rp_n
}

# same_shared AT CALL LINE-PREFIX: the guest's list at AT, complete (its
# length and md5 as the guest printed them on LINE-PREFIX's line), is the
# host's report CALL range for range.  Says why not as TAP comments.
same_shared() {
	sr_g=/tmp/e2e-$name.guest-ranges.$1 sr_h=/tmp/e2e-$name.host-ranges.$2
	guest_ranges "$1" > $sr_g
	host_ranges "$2" > $sr_h
	sr_line=$(grep "^$3" "$log" | grep "shared_ranges=" | tail -1)
	sr_gn=$(echo "$sr_line" | tr ' ' '\n' | sed -n 's/^shared_ranges=//p')
	sr_sum=$(echo "$sr_line" | tr ' ' '\n' | sed -n 's/^shared_ranges_md5=//p')
	sr_gpages=$(echo "$sr_line" | tr ' ' '\n' | sed -n 's/^shared_pages=//p')
	sr_n=$(wc -l < $sr_g | tr -d ' ')
	sr_pages=$(ranges_pages < $sr_g)
	echo "# shared GPAs at $1: guest ${sr_n} ranges, $sr_pages pages (shared_pages=${sr_gpages:-?});" \
	     "host (call=$2) $(wc -l < $sr_h | tr -d ' ') ranges, $(ranges_pages < $sr_h) pages"
	if [ -z "$sr_line" ] || [ "$sr_gn" != "$sr_n" ] ||
	   [ "$sr_sum" != "$(md5sum < $sr_g | cut -c1-32)" ]; then
		echo "# the guest's list at $1 is incomplete (printed n=${sr_gn:-?} md5=${sr_sum:-?}; read $sr_n lines)"
		return 1
	fi
	if [ "$sr_gpages" != "$sr_pages" ]; then
		echo "# the guest's shared_pages ${sr_gpages:-?} is not its list's $sr_pages"
		return 1
	fi
	if ! cmp -s $sr_g $sr_h; then
		echo "# guest (-) and host (+) differ:"
		diff $sr_g $sr_h | grep '^[-+]0' | head -20 | sed 's/^/#   /'
		return 1
	fi
	[ "$sr_n" -gt 0 ]
}

# exit_shared: the check at the guest's exit, as one TAP case
exit_shared() {
	same_shared exit exit GUEST-GMEMPV
	ok $? "${1:+$1: }the host's shared GPAs at exit are exactly the guest's list, range for range ($sr_n ranges, $sr_pages pages)"
}

protected_boot() {
	echo "1..8"
	# --huge-pages=hinted: 2 MiB only where the guest hints it.
	run_vmm boot --huge-pages=hinted -a "quiet gmemvm.test=boot"
	ok $rc "protected guest exits with status 0"
	grep -q 'GUEST-USERSPACE' "$log"
	ok $? "protected guest reaches userspace ($(field userspace_secs 'BOOT ') s)"
	h=$(field hypercalls GUEST-GMEMPV)
	[ -n "$h" ] && [ "$h" -gt 0 ]
	ok $? "guest driver shared memory by hypercall (hypercalls=${h:-none})"
	s=$(field shared_pages_end "$VMSTATS")
	g=$(field guest_pages "$VMSTATS")
	[ -n "$s" ] && [ "$s" -lt "$g" ]
	ok $? "most guest RAM stays private ($s of $g pages shared)"
	exit_shared
	f=$(field failures GUEST-GMEMPV)
	[ "$f" = 0 ]
	ok $? "no conversion of the guest failed (failures=${f:-none})"
	# The guest's boot-time hints, and the remap they cause of what it
	# touched before, are all that can map it at 2 MiB here.  What it
	# never touched is not mapped at all, so the share of what KVM mapped
	# is the measure; the share of all private RAM is reported.
	echo "# private RAM mapped at 2 MiB at the end: $(share2m)%" \
	     "(pages_2m=$(field pages_2m "$VMSTATS") pages_4k=$(field pages_4k "$VMSTATS"))"
	h2m=$(field gmem_pv_hint_2m_pages "$VMSTATS")
	[ "$(mapped2m)" -ge 50 ] && [ -n "$h2m" ] && [ "$h2m" -gt 0 ]
	ok $? "KVM maps most of what it mapped at 2 MiB ($(mapped2m)% >= 50%; guest's 2 MiB hints: ${h2m:-none} pages)"
	no_splat
	ok $? "no kernel splat in the guest"
}

disk_roundtrip() {
	echo "1..5"
	run_vmm disk -a "quiet gmemvm.test=disk gmemvm.mb=$MB"
	ok $rc "protected guest disk round trip exits 0"
	disk_ok
	ok $? "protected: $MB MiB pattern read back intact, host file matches"
	exit_shared protected
	no_splat
	ok $? "no kernel splat in the protected guest"
	run_vmm disk_unprot --unprotected -a "quiet gmemvm.test=disk gmemvm.mb=$MB"
	[ $rc = 0 ] && disk_ok
	ok $? "unprotected baseline: same round trip intact"
}

no_driver_fails_cleanly() {
	echo "1..3"
	run_vmm nodrv -a "quiet gmem_pv=off no-kvmclock gmemvm.test=disk"
	[ $rc = 65 ]
	ok $? "VMM ends with the device-fault status 65 (got $rc), no hang"
	grep -q 'device fault: cannot access .* at GPA 0x[0-9a-f]*: the page is private' "$log"
	ok $? "the VMM names the private GPA the device could not reach"
	! grep -q 'GUEST-STATUS 0' "$log"
	ok $? "the guest did not complete virtio I/O"
}

# The probe in a guest that boots whatever the state of the guest driver:
# no virtio devices, the driver off, no kvmclock (see reference-vmm.rst),
# so all of its RAM is private.  make run's demo probes the full guest.
private_probe() {
	echo "1..4"
	run_vmm probe --no-devices -a "quiet gmem_pv=off no-kvmclock gmemvm.test=probe"
	ok $rc "protected guest (no devices, driver off) runs the probe, exits 0"
	grep -q 'PROBE-RESULT .*attempts=4 leaked=0' "$log"
	ok $? "every host userspace read of a private guest page failed"
	[ "$(grep -c 'probe: private GPA .*refused' "$log")" = 4 ]
	ok $? "mmap, new mmap, pread and /proc/PID/mem each refused"
	! grep -q 'READ SUCCEEDED' "$log"
	ok $? "no read succeeded"
}

# gmem_pv=require in a guest the VMM starts unprotected (no
# KVM_FEATURE_GMEM_PV in CPUID): the guest must refuse to run, with the
# reason, before it reaches userspace.
require_unprotected_panics() {
	echo "1..3"
	run_vmm require --no-devices --unprotected \
		-a "gmem_pv=require gmemvm.test=boot"
	# panic=-1 (the VMM's command line): the panic resets the guest
	[ $rc = 64 ]
	ok $? "VMM reports the guest's reset, status 64 (got $rc)"
	grep -q 'Kernel panic - not syncing: gmem-pv: gmem_pv=require, but the host does not offer protected memory' "$log"
	ok $? "the guest panics naming gmem_pv=require and the missing feature"
	! grep -q 'GUEST-USERSPACE' "$log"
	ok $? "the guest never reached userspace"
}

# The guest's RAM check: RAM the VMM left out of guest_memfd, or pinned so
# that it cannot be made private, must stop the guest before userspace,
# with the reason; it never runs on it.  The 2 MiB at 256 MiB, away from
# the kernel (1 MiB) and the initrd (the top of RAM).
TEST_GPA=0x10000000

# refused NAME VMM-OPTION ERRNO WHY: the three checks of such a case
refused() {
	run_vmm "$1" --no-devices "$2" -a "gmemvm.test=boot"
	[ $rc = 64 ]
	ok $? "$1: the guest stops, VMM reports its reset, status 64 (got $rc)"
	grep -q "gmem-pv: RAM \[0x[0-9a-f]*, 0x[0-9a-f]*) is not private: error $3 ($4)" "$log" &&
		grep -q 'Kernel panic - not syncing: gmem-pv: [0-9]* KiB of RAM could not be made private: refusing to run on shared RAM' "$log"
	ok $? "$1: the guest panics naming the range and why ($3, $4)"
	! grep -q 'GUEST-USERSPACE' "$log"
	ok $? "$1: the guest never reached userspace"
}

ram_outside_gmem_refused() {
	echo "1..3"
	refused outside --outside-gmem=$TEST_GPA -14 "not backed by guest_memfd"
}

pinned_ram_refused() {
	echo "1..3"
	refused pinned --pin=$TEST_GPA -11 "pinned by the host"
}

# The memblock check: the e820 map calls the 2 MiB at the kernel's own
# address (16 MiB, CONFIG_PHYSICAL_START; not relocatable) reserved.  They
# are private in guest_memfd, but the boot hint, which walks e820's RAM,
# never confirmed them; after it, setup_arch() adds the kernel's range
# back as RAM (e820_add_kernel_range()) and memblock hands it out.  The
# guest must stop, naming the first such page.
KERNEL_GPA=0x1000000

e820_hole_refused() {
	echo "1..3"
	run_vmm e820hole --no-devices --e820-hole=$KERNEL_GPA -a "gmemvm.test=boot"
	[ $rc = 64 ]
	ok $? "the guest stops, VMM reports its reset, status 64 (got $rc)"
	grep -q '.text .data .bss are not marked as E820_TYPE_RAM' "$log" &&
		grep -q "Kernel panic - not syncing: gmem-pv: RAM at $KERNEL_GPA was never made private: refusing to run on shared RAM" "$log"
	ok $? "the kernel re-added its range as RAM, and the guest panics naming the page the boot hint never confirmed"
	! grep -q 'GUEST-USERSPACE' "$log"
	ok $? "the guest never reached userspace"
}

# A guest with two vCPUs runs them on one L1 CPU, the last: on two L1 CPUs
# under QEMU's multi-threaded TCG, a 2-vCPU guest converting under load
# triple-faults or wedges now and then (the emulator mixing L1 and L2
# state; an unmodified 7.3 fails the same way), and with L1 at -smp 1 or
# on single-threaded TCG it hangs (Documentation/virt/gmem-pv/
# build-and-test.rst).  The other L1 CPU keeps L1 itself running.
pin_to_one_l1_cpu() {
	n=$(grep -c ^processor /proc/cpuinfo)
	PIN=
	[ "$n" -gt 1 ] && PIN=$((n - 1))
	echo "# L1 has $n CPUs; the VMM runs on ${PIN:-all of them}"
}

smp_conversion_load() {
	echo "1..9"
	pin_to_one_l1_cpu
	run_vmm load_unprot --unprotected -s 2 -a "quiet gmemvm.test=load gmemvm.mb=$MB"
	[ $rc = 0 ] && grep -q 'GUEST-USERSPACE cpus=2' "$log" && disk_ok && no_splat
	ok $? "unprotected baseline: same load on 2 vCPUs, data intact"
	run_vmm load -s 2 -a "quiet gmemvm.test=load gmemvm.mb=$MB"
	ok $rc "2-vCPU protected guest under conversion load exits 0"
	grep -q 'GUEST-USERSPACE cpus=2' "$log"
	ok $? "both vCPUs online"
	grep -q 'GUEST-LOAD rebinds=40' "$log"
	ok $? "40 virtio-rng rebinds (coherent rings shared and unshared)"
	grep -q 'GUEST-LOAD exercise=ok' "$log"
	ok $? "the driver's exerciser on both vCPUs: shared pages cleared, private contents kept"
	s=$(field pages_unshared GUEST-GMEMPV)
	[ -n "$s" ] && [ "$s" -ge 2048 ]
	ok $? "guest converted back and forth (pages_unshared=${s:-none})"
	disk_ok
	ok $? "disk data intact after the load"
	exit_shared "after the load"
	no_splat
	ok $? "no kernel splat in the guest"
}

# The canary's pages among the CANARY-HIT lines of $log for WHEN (share:
# scanned when KVM shared them, exit: every shared page at the end).
canary_hits() {	# "GPA PAGES" per run of pages with hits
	grep "CANARY-HIT $1 " "$log" |
		sed -n 's/.* gpa=\([0-9a-fx]*\) pages=\([0-9]*\) .*/\1 \2/p'
}

# pages in the runs of canary_hits WHEN other than the control page alone
canary_others() {
	canary_hits "$1" | grep -vx "$ctl 1" | awk '{ p += $2 } END { print p + 0 }'
}

# Sharing never publishes stale private data.  Early in boot the guest
# fills and frees most of its memory with a canary word; then its devices
# probe, its DMA pools are made, and the driver's canary test shares a
# control page with its contents on purpose, allocates coherent buffers,
# grows the atomic pool and maps through swiotlb; the disk is used.  The
# VMM scans each range when KVM shares it (the vCPU stopped) and every
# shared page at its exit: only the control page may hold the canary.
CANARY=c4a1a3e5deadf00d

share_no_stale() {
	echo "1..8"
	run_vmm canary --canary=$CANARY \
		-a "quiet gmem_pv_canary=448 gmemvm.test=canary gmemvm.mb=$MB"
	ok $rc "protected guest runs the canary test, exits 0"
	ctl=$(field control_gpa GUEST-CANARY)
	fill=$(field filled_mib GUEST-CANARY)
	pb=$(field atomic_pool_before GUEST-CANARY)
	pa=$(field atomic_pool_after GUEST-CANARY)
	[ -n "$fill" ] && [ "$fill" -ge 256 ] && [ -n "$ctl" ] && [ "$ctl" != 0 ] &&
		[ -n "$pb" ] && [ -n "$pa" ] && [ "$pa" -gt "$pb" ]
	ok $? "guest filled and freed ${fill:-?} MiB with the canary before its DMA pools and devices; the atomic pool grew (${pb:-?} -> ${pa:-?} bytes; control page ${ctl:-none})"
	res=$(grep 'CANARY-RESULT' "$log" | tail -1)
	echo "# $res"
	canary_hits share | grep -qx "$ctl 1"
	ok $? "the control page, shared with its contents, holds the canary when shared"
	nh=$(canary_others share)
	[ -n "$res" ] && [ "$nh" = 0 ]
	ok $? "no other page holds the canary when KVM shares it ($nh pages; $(field share_scanned CANARY-RESULT) scanned)"
	canary_hits exit | grep -qx "$ctl 1"
	ok $? "the control page still holds it at the end"
	nh=$(canary_others exit)
	[ -n "$res" ] && [ "$nh" = 0 ]
	ok $? "no other shared page holds the canary at the end ($nh pages; $(field exit_scanned CANARY-RESULT) scanned)"
	exit_shared "with coherent, atomic-pool and swiotlb DMA"
	disk_ok && no_splat
	ok $? "disk data intact, no kernel splat in the guest"
}

# field2m N: pages_2m of the Nth STATS line of $log
stats_n() {
	grep "$VMSTATS" "$log" | sed -n "$2p" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}

# Mapping-size hints do not degrade: 32 private 2 MiB blocks, mapped at
# 2 MiB by the boot hint; one page of each is shared and made private
# again, as a small coherent buffer is allocated and freed, and the blocks
# touched again: they must map at 2 MiB again.
hint_after_free() {
	echo "1..5"
	run_vmm hint --no-devices --huge-pages=hinted -a "quiet gmemvm.test=hint"
	ok $rc "protected guest runs the hint test, exits 0"
	a=$(stats_n pages_2m 1)
	b=$(stats_n pages_2m 2)
	echo "# pages_2m with the blocks mapped: ${a:-?}, after the cycle: ${b:-?};" \
	     "pages_4k: $(stats_n pages_4k 1), $(stats_n pages_4k 2)"
	[ -n "$a" ] && [ "$a" -ge 32 ]
	ok $? "KVM maps at least the 32 blocks at 2 MiB before (pages_2m=${a:-?})"
	[ -n "$b" ] && [ -n "$a" ] && [ "$b" -ge $((a - 4)) ]
	ok $? "after one page of each was shared and made private again they map at 2 MiB again (pages_2m ${a:-?} -> ${b:-?})"
	exit_shared "after 32 pages shared and made private again"
	no_splat
	ok $? "no kernel splat in the guest"
}

# Pages whose state is unknown are leaked, never freed.  The VMM services
# conversions itself; a first boot lists the one-page shares, a second
# boot carries out the last one before userspace (ptp_kvm's page) but
# reports it failed.  The guest must never use that page again: the VMM
# compares it at its exit with what it held then, after the guest filled
# most of its memory.
fail_share_leaks() {
	echo "1..5"
	run_vmm failscan --no-devices --fail-share=100000 -a "quiet gmemvm.test=boot"
	nf=$(sed -n '/BOOT userspace_secs/q; s/.*one-page share \([0-9]*\): .*/\1/p' "$log" | tail -1)
	[ $rc = 0 ] && [ -n "$nf" ] && [ "$nf" -gt 1 ]
	ok $? "a guest whose conversions the VMM services boots; the last one-page share before userspace is number ${nf:-none}"
	run_vmm fail --no-devices --fail-share=${nf:-1} -a "quiet gmemvm.test=fill gmemvm.mb=64"
	ok $rc "the guest survives a failed share, fills at least 64 MiB ($(field bytes GUEST-FILL) bytes), exits 0"
	r=$(grep 'FAIL-SHARE-RESULT' "$log" | tail -1)
	echo "# $r"
	echo "$r" | grep -q 'state=shared changed=no'
	ok $? "the page the guest was told is not shared was never used again"
	w=$(grep -c 'WARNING:' "$log")
	cw=$(grep -c 'WARNING: .*set_memory.c' "$log")
	[ "$w" = "$cw" ] && [ "$(grep -c 'Call Trace:' "$log")" -le "$w" ] &&
		! grep -q -E 'BUG:|Oops|Kernel panic|UBSAN:|general protection|rcu: INFO' "$log"
	ok $? "no kernel splat in the guest but set_memory's own warning of the failure ($cw)"
	echo "$r" | grep -q 'gpa='
	ok $? "the VMM failed a share (one-page share ${nf:-?})"
}

demo() {
	echo "1..4"
	run_vmm demo -s 1 -a "quiet gmemvm.test=probe gmemvm.mb=$MB"
	prc=$rc
	pboot=$(field userspace_secs 'BOOT ')
	pw=$(speed GUEST-DISK-WRITE)
	pr=$(speed GUEST-DISK-READ)
	disk_ok
	pdisk=$?
	gline=$(grep GUEST-GMEMPV "$log" | tail -1 | cut -d' ' -f2-)
	sline=$(grep "$VMSTATS" "$log" | tail -1 | cut -d' ' -f3-)
	probe=$(grep 'PROBE-RESULT' "$log" | tail -1 | cut -d' ' -f3-)
	shared=$(field shared_pages_end "$VMSTATS")
	pages=$(field guest_pages "$VMSTATS")
	p2m=$(share2m)
	m2m=$(mapped2m)
	plog=$log
	ok $prc "protected guest: boot, disk round trip, probe"
	ok $pdisk "protected disk data intact (guest and host checksums)"

	run_vmm demo_unprot --unprotected -a "quiet gmemvm.test=disk gmemvm.mb=$MB"
	urc=$rc
	uboot=$(field userspace_secs 'BOOT ')
	uw=$(speed GUEST-DISK-WRITE)
	ur=$(speed GUEST-DISK-READ)
	disk_ok
	ok $? "unprotected guest: same disk round trip intact"
	echo "$probe" | grep -q 'leaked=0'
	ok $? "private-page probe: every read refused"

	echo "# ---- gmem-pv reference VMM: protected guest report ----"
	echo "# L2 boot to userspace: protected ${pboot:-?} s, unprotected ${uboot:-?} s (status $prc / $urc)"
	echo "# disk ($MB MiB, O_DIRECT) write: protected ${pw:-?}, unprotected ${uw:-?}"
	echo "# disk ($MB MiB, O_DIRECT) read:  protected ${pr:-?}, unprotected ${ur:-?}"
	echo "# guest conversions (driver debugfs): ${gline:-none}"
	echo "# host (KVM stats): $sline"
	echo "# pages shared at the end: ${shared:-?} of ${pages:-?} guest pages"
	echo "# private RAM mapped at 2 MiB at the end: ${p2m}% of all of it, ${m2m}% of what KVM mapped (2 MiB guest_memfd folios, guest hints)"
	echo "# private-page probe (VMM mapping, new mmap, pread, /proc/PID/mem): $probe"
	echo "# logs: $plog $log"
}

# boot_count is `make boot-count`'s measurement, not a suite of make check:
# $GMEMPV_BOOTS (20) protected and as many unprotected guests, alternately,
# on the same L1, counting the boots whose kernel log shows an interrupt
# taken with IF clear (the interrupted frame's EFLAGS 0x46 or 0x02 with
# lockdep's recursive-locking report it brings) and the boots that failed
# otherwise.  A wedged guest ends at a 120 s VMM timeout instead of 480 s.
boot_count() {
	n=${GMEMPV_BOOTS:-20}
	export GMEMVM_TIMEOUT=120
	echo "1..2"
	for kind in prot unprot; do
		eval "${kind}_up=0 ${kind}_ifclear=0 ${kind}_splat=0 ${kind}_other=0"
	done
	i=0
	while [ $i -lt "$n" ]; do
		i=$((i + 1))
		for kind in prot unprot; do
			set -- -a "quiet gmemvm.test=boot"
			[ $kind = unprot ] && set -- --unprotected "$@"
			run_vmm "count_$kind" "$@" > /dev/null
			up=0 ifclear=0 splat=0 other=0
			grep -q 'GUEST-USERSPACE' "$log" && up=1
			grep -q -E 'recursive locking detected|EFLAGS: 0+(46|02)( |$)' "$log" && ifclear=1
			no_splat || splat=1
			# A failure or a report that is not the IF-clear one.
			{ [ $rc != 0 ] || [ $up = 0 ] || [ $splat = 1 ]; } && [ $ifclear = 0 ] && other=1
			secs=$(field userspace_secs 'BOOT ')
			echo "# boot $i $kind: status $rc userspace=$up ${secs:+(${secs} s) }if_clear=$ifclear splat=$splat"
			[ $splat = 1 ] && grep -E 'BUG:|WARNING:|EFLAGS:|recursive locking' "$log" | head -4 | sed 's/^/#   /'
			eval "${kind}_up=\$((${kind}_up + up)) ${kind}_ifclear=\$((${kind}_ifclear + ifclear))"
			eval "${kind}_splat=\$((${kind}_splat + splat)) ${kind}_other=\$((${kind}_other + other))"
		done
	done
	echo "# ---- $n protected and $n unprotected boots, alternately, one L1 ----"
	echo "# protected:   reached userspace $prot_up, IF-clear interrupt $prot_ifclear, any splat $prot_splat, other failures $prot_other"
	echo "# unprotected: reached userspace $unprot_up, IF-clear interrupt $unprot_ifclear, any splat $unprot_splat, other failures $unprot_other"
	[ "$prot_other" = 0 ]
	ok $? "protected boots: no failure or report but the IF-clear one ($prot_other)"
	[ "$unprot_other" = 0 ]
	ok $? "unprotected boots: no failure or report but the IF-clear one ($unprot_other)"
}

# cpu_hotplug: a 2-vCPU protected guest (no devices, so nothing else is
# shared or unshared meanwhile) reports, from KVM's MSRs, the per-CPU pages
# KVM writes (steal time, PV EOI, async PF) and asks the VMM for its shared
# extents three times: after boot, after CPU 1 went offline and online
# $CPUHP_CYCLES times, and after both vCPUs were busy for 3 s (see
# guest-init).  A busy loop in L1 delays the vCPU threads meanwhile, which
# is steal time; L1's kvm_pv_eoi trace event, between the VMM's trace
# marks of the second and third report, is KVM seeing the guest's PV EOIs.
# A private page under any of them fails the shared-extent checks, leaves
# the steal time record as the guest wrote it (KVM cannot write it) and
# gives no kvm_pv_eoi event (KVM cannot set the flag).
CPUHP_CYCLES=4

# percpu ROUND CPU KEY: KEY=... of the guest's GUEST-PERCPU line
percpu() {
	grep "^GUEST-PERCPU round=$1 cpu=$2 " "$log" | tail -1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# in_shared CALL GPA: is GPA inside a shared extent of the VMM's CALL'th report?
in_shared() {
	[ -n "$2" ] && [ "$(($2))" != 0 ] || return 1
	grep "gmem-vmm: SHARED-EXTENT call=$1 " "$log" |
		sed 's/.* start=\(0x[0-9a-f]*\) end=\(0x[0-9a-f]*\).*/\1 \2/' |
		while read -r s e; do
			[ "$(($2))" -ge "$((s))" ] && [ "$(($2))" -lt "$((e))" ] && echo in
		done | grep -q in
}

# cpuhp_shared ROUND: every CPU's steal time and PV EOI page (and async PF
# page, when on) shared in the VMM's report ROUND; the GPAs as a comment.
cpuhp_shared() {
	good=0
	for c in 0 1; do
		st=$(percpu "$1" $c st_gpa)
		eoi=$(percpu "$1" $c eoi_gpa)
		apf=$(percpu "$1" $c apf_gpa)
		echo "# round $1 cpu $c: steal time ${st:-none}, PV EOI ${eoi:-none}, async PF ${apf:-none}"
		in_shared "$1" "$st" && in_shared "$1" "$eoi" || good=1
		[ -z "$apf" ] || [ "$((apf))" = 0 ] || in_shared "$1" "$apf" || good=1
	done
	return $good
}

cpu_hotplug() {
	echo "1..9"
	tr=/sys/kernel/tracing
	[ -d $tr/events ] || mount -t tracefs tracefs $tr 2>/dev/null
	ev=$tr/events/kvm/kvm_pv_eoi/enable
	if [ -f $ev ]; then
		echo 0 > $tr/tracing_on
		echo > $tr/trace
		echo 1 > $ev
		echo 1 > $tr/tracing_on
	fi
	# A busy L1 thread, so that the guest's vCPUs wait for their CPU and
	# KVM updates steal time; pinned to one L1 CPU, the two vCPUs also
	# wait for each other.
	( while :; do :; done ) &
	hog=$!
	pin_to_one_l1_cpu
	run_vmm cpuhp --no-devices -s 2 -a "quiet gmemvm.test=cpuhp gmemvm.cycles=$CPUHP_CYCLES"
	kill $hog
	wait $hog 2>/dev/null
	trace=/tmp/e2e-cpuhp.trace
	: > $trace
	if [ -f $ev ]; then
		echo 0 > $ev
		cat $tr/trace > $trace
		echo > $tr/trace
	fi

	[ $rc = 0 ] && grep -q 'GUEST-USERSPACE cpus=2' "$log"
	ok $? "2-vCPU protected guest runs the case and exits 0 (status $rc)"
	cpuhp_shared 1
	ok $? "after boot: both CPUs' steal time and PV EOI pages are shared (by GPA, VMM's extents)"
	grep -q "GUEST-CPUHP cycles=$CPUHP_CYCLES online=0-1" "$log"
	ok $? "CPU 1 offline and online $CPUHP_CYCLES times ($(grep GUEST-CPUHP "$log" | grep -o 'cycles=[^ ]*'))"
	same=0
	for r in 2 3; do
		for c in 0 1; do
			for k in st_gpa eoi_gpa apf_gpa; do
				[ "$(percpu $r $c $k)" = "$(percpu 1 $c $k)" ] || same=1
			done
		done
	done
	[ $same = 0 ] && cpuhp_shared 2 && cpuhp_shared 3
	ok $? "after the cycles: the same pages re-registered with KVM, still shared"
	leak=0
	for r in 1 2 3; do
		line=$(grep "^GUEST-CPUHP-COUNTERS round=$r " "$log" | tail -1)
		g=$(echo "$line" | tr ' ' '\n' | sed -n 's/^shared_pages=//p')
		u=$(echo "$line" | tr ' ' '\n' | sed -n 's/^pages_unshared=//p')
		f=$(echo "$line" | tr ' ' '\n' | sed -n 's/^failures=//p')
		h=$(grep "gmem-vmm: SHARED-EXTENTS-END call=$r " "$log" | tr ' ' '\n' | sed -n 's/^shared_pages=//p')
		echo "# round $r: guest shared_pages=${g:-?} pages_unshared=${u:-?} failures=${f:-?}; host shared ${h:-?}"
		[ -n "$g" ] && [ "$g" = "$h" ] && [ "$f" = 0 ] || leak=1
		same_shared $r $r "GUEST-CPUHP-COUNTERS round=$r " || leak=1
		[ $r = 1 ] && { g1=$g; u1=$u; l1=$(cat $sr_g); }
		[ "$g" = "$g1" ] && [ "$u" = "$u1" ] && [ "$(cat $sr_g)" = "$l1" ] || leak=1
	done
	[ $leak = 0 ]
	ok $? "nothing converted back, shared or failed meanwhile; in each round the host shares exactly the guest's list, range for range"
	steal=0
	for c in 0 1; do
		v2=$(percpu 2 $c st_version) v3=$(percpu 3 $c st_version)
		s2=$(percpu 2 $c st_steal) s3=$(percpu 3 $c st_steal)
		echo "# cpu $c steal time record: version ${v2:-?} -> ${v3:-?}, steal ${s2:-?} -> ${s3:-?} ns"
		[ -n "$v3" ] && [ "$v3" -gt "${v2:-0}" ] && [ -n "$s3" ] && [ "$s3" -gt "${s2:-0}" ] || steal=1
	done
	echo "# /proc/stat steal (USER_HZ): $(grep '^GUEST-CPUHP-COUNTERS' "$log" | grep -o 'proc_stat_steal=[0-9]*' | tr '\n' ' ')"
	[ $steal = 0 ]
	ok $? "steal time works: KVM updates both CPUs' records (version and steal grow)"
	# kvm_pv_eoi lines between the VMM's second and third mark
	awk '/gmem-vmm: shared extents call=2/ { on = 1 } /gmem-vmm: shared extents call=3/ { on = 0 } on' $trace > $trace.win
	e0=$(grep -c 'kvm_pv_eoi: apicid 0 ' $trace.win)
	e1=$(grep -c 'kvm_pv_eoi: apicid 1 ' $trace.win)
	echo "# L1 kvm_pv_eoi events while busy: vCPU 0 $e0, vCPU 1 $e1 (whole run: $(grep -c kvm_pv_eoi: $trace))"
	[ -f $ev ] && [ "$e0" -gt 0 ] && [ "$e1" -gt 0 ]
	ok $? "PV EOI works on both CPUs after the cycles (KVM saw the guest's PV EOIs)"
	msrs=0
	for c in 0 1; do
		for k in st_msr eoi_msr; do
			m=$(percpu 3 $c $k)
			[ -n "$m" ] && [ $((m & 1)) = 1 ] || msrs=1
		done
	done
	[ $msrs = 0 ]
	ok $? "PV EOI and steal time MSRs enabled on both CPUs at the end"
	no_splat
	ok $? "no kernel splat in the guest"
}

case "$1" in
protected_boot|disk_roundtrip|no_driver_fails_cleanly|private_probe|require_unprotected_panics|smp_conversion_load|share_no_stale|hint_after_free|fail_share_leaks|ram_outside_gmem_refused|pinned_ram_refused|e820_hole_refused|demo|boot_count|cpu_hotplug)
	"$1"
	;;
cpu_hotplug)	cpu_hotplug ;;
*)
	echo "usage: e2e.sh TEST" >&2
	exit 2
	;;
esac
[ $failed = 0 ]
