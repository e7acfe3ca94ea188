#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# End-to-end tests of QEMU's gmem-pv-guest object, run in L1: each boots
# the L2 guest (the same bzImage and guest init as tests/vmm/e2e.sh) with
# gmem-pv's QEMU 10.0 (make qemu, laid into L1 by scripts/mkinitramfs.sh)
# and prints TAP.  See Documentation/virt/gmem-pv/qemu.rst.
#
#   protected.sh [--qemu PATH] protected_boot | disk_roundtrip | shared_extents |
#               private_read_refused | dma_private_fails | refusals |
#               refusal_no_caps | service_off | microvm_protected | cpu_model |
#               rng_rebind | demo | profile
#   protected.sh check_log extents|service_off|microvm LOG
#
# refusal_no_caps runs with kvm loaded without vm_memory_attributes=0;
# the others with it.  demo is make run's QEMU report.

. "$(dirname "$0")/../lib/tap.sh"

V=${GMEMVM_DIR:-/tests/vmm}
QEMU=${GMEMPV_QEMU:-/tests/qemu/bin/qemu-system-x86_64}
QEMU_FW=${GMEMPV_QEMU_FW:-/tests/qemu/share}
MB=16
TMO=${GMEMPV_QEMU_L2_TIMEOUT:-300}

# The protected machine; "$PROT" goes before the machine's other options.
PROT="-object gmem-pv-guest,id=gp0,debug-port=on"
MACH_PROT="q35,confidential-guest-support=gp0"

# run_qemu NAME [--unprotected] [--object OBJ] [--microvm] [--cpu CPU]
#          [--disk] [--] QEMU-ARGS...:
# boot the L2 guest; its console and QEMU's messages in /tmp/qe2e-NAME.log,
# QEMU's exit status in $rc.  Guest command line extras in $APPEND.
# --object replaces the gmem-pv-guest object (same id gp0); --microvm
# boots the protected machine on microvm, its disk on virtio-mmio; --cpu
# replaces -cpu host (an empty CPU: no -cpu, QEMU's default model).
run_qemu() {
	name=$1
	shift
	log=/tmp/qe2e-$name.log
	disk=/tmp/qe2e-$name.disk
	mach=$MACH_PROT
	obj=$PROT
	# XSAVE breaks L2 guests under nested TCG: the object clears it (and
	# what it manages) for the protected guest; the baseline clears it too.
	cpu="-cpu host"
	# virtio-blk-pci, modern only, VIRTIO_F_ACCESS_PLATFORM
	blk=virtio-blk-pci,iommu_platform=on,disable-legacy=on
	devs=
	while :; do
		case "$1" in
		--unprotected) mach=q35; obj=; cpu="-cpu host,-xsave"; shift ;;
		--object) obj="-object $2"; shift 2 ;;
		--cpu) cpu=${2:+-cpu $2}; shift 2 ;;
		--microvm)
			# virtio-mmio is legacy (version 1) by default, whose
			# 32 feature bits cannot carry ACCESS_PLATFORM (bit 33)
			mach=microvm,confidential-guest-support=gp0
			blk=virtio-blk-device,iommu_platform=on
			devs="-global virtio-mmio.force-legacy=false"
			shift ;;
		--disk)
			dd if=/dev/zero of=$disk bs=1M count=64 2>/dev/null
			devs="$devs -drive file=$disk,if=none,id=d0,format=raw,cache=none,aio=threads"
			devs="$devs -device $blk,drive=d0"
			shift ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	fw=
	[ -n "$QEMU_FW" ] && fw="-L $QEMU_FW"
	set -- $fw -accel kvm $cpu -m 512 -smp 1 -nodefaults -no-user-config \
		-display none -serial stdio -monitor none -no-reboot \
		$obj -machine $mach $devs "$@" \
		-kernel $V/bzImage -initrd $V/guest.cpio \
		-append "console=ttyS0 reboot=k panic=-1 kunit.enable=0 $APPEND"
	echo "# $QEMU $*"
	t0=$(cut -d' ' -f1 /proc/uptime)
	timeout "$TMO" "$QEMU" "$@" < /dev/null > "$log.raw" 2>&1
	rc=$?
	t1=$(cut -d' ' -f1 /proc/uptime)
	secs=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
	tr -d '\r' < "$log.raw" > "$log"
	rm -f "$log.raw"
	sed -e 's/^/# /' "$log"
	echo "# exit status $rc after $secs s"
}

field() {	# field KEY LINE-PREFIX: value of KEY=... on the last such line
	grep "$2" "$log" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}

no_splat() {
	! grep -q -E 'BUG:|WARNING:|Oops|Kernel panic|UBSAN:|general protection|Call Trace:|rcu: INFO' "$log"
}

init_secs() {	# the guest's clock when it started /init
	sed -n 's/^\[ *\([0-9.]*\)\].*Run \/init as init process.*/\1/p' "$log" | head -1
}

exited() {	# the guest ended QEMU through the test port with status $1
	[ "$rc" = "$1" ] && grep -q "^gmem-pv: guest exit status $1\$" "$log"
}

guest_status() {	# the guest's own status line (unprotected: no exit port)
	grep 'GUEST-STATUS' "$log" | tail -1 | cut -d' ' -f2
}

disk_ok() {
	set -- $(grep 'GUEST-DISK-SUM' "$log" | tail -1 | tr ' ' '\n' | sed -n 's/^\(wrote\|read\)=//p')
	host=$(head -c $((MB * 1048576)) $disk | sha256sum | cut -d' ' -f1)
	echo "# guest wrote $1, read back $2; host file has $host"
	[ -n "$1" ] && [ "$1" = "$2" ] && [ "$1" = "$host" ]
}

speed() {
	grep "$1" "$log" | tail -1 | sed -n 's/.* mbps=\([0-9.]*\).*/\1/p'
}

protected_boot() {
	echo "1..6"
	APPEND="gmemvm.test=boot" run_qemu boot
	exited 0
	ok $? "protected guest under QEMU exits with status 0 through the test port (QEMU $rc)"
	grep -q 'gmem-pv: protected guest: .* MiB of RAM in 1 guest_memfd' "$log"
	ok $? "QEMU made a protected VM, RAM in one in-place guest_memfd"
	grep -q 'GUEST-USERSPACE' "$log"
	ok $? "protected guest reaches userspace ($(field userspace_secs 'gmem-pv: BOOT ') s)"
	grep -q 'gmem-pv: protected guest: memory private by default' "$log" &&
		[ "$(field active GUEST-GMEMPV)" = 1 ]
	ok $? "the guest driver reports a protected guest (active=1)"
	p=$(field shared_pages_end 'gmem-pv: STATS')
	g=$(field guest_pages 'gmem-pv: STATS')
	[ -n "$p" ] && [ "$p" -lt $((g / 2)) ]
	ok $? "most of the guest's RAM is private at exit ($p of $g pages shared)"
	no_splat
	ok $? "no kernel splat in the guest"
}

disk_roundtrip() {
	echo "1..5"
	APPEND="gmemvm.test=disk gmemvm.mb=$MB" run_qemu disk --disk
	exited 0
	ok $? "protected guest disk round trip (virtio-blk-pci, iommu_platform=on) exits 0"
	disk_ok
	ok $? "protected: $MB MiB pattern read back intact, image file in L1 matches"
	no_splat
	ok $? "no kernel splat in the protected guest"
	APPEND="gmemvm.test=disk gmemvm.mb=$MB" run_qemu disk_unprot --unprotected --disk
	[ "$(guest_status)" = 0 ] && [ $rc = 0 ]
	ok $? "unprotected QEMU baseline: the guest's checks passed (status $(guest_status), QEMU $rc)"
	disk_ok
	ok $? "unprotected: same round trip intact, image file matches"
}

# Shared GPAs by identity, as tests/vmm/e2e.sh compares them with the
# reference VMM's: the guest driver's list (debugfs shared_ranges, printed
# as GUEST-SHARED-RANGE at=exit lines, with their number and md5 on
# GUEST-GMEMPV) against QEMU's exit report (SHARED-EXTENT call=N), range
# for range.  QEMU's extents are cut to the guest's e820 RAM (BIOS-e820
# usable / System RAM, page aligned inward, as the driver hints it): what
# lies outside (the 640 KiB-1 MiB hole, firmware's reserved ranges) was
# never hinted and stays shared, which qemu.rst documents.

# e820_ram: the guest's e820 RAM ranges as "START END" (END exclusive,
# both page aligned inward), in decimal
e820_ram() {
	sed -n 's/.*BIOS-e820: \[mem \(0x[0-9a-f]*\)-\(0x[0-9a-f]*\)\] *\(usable\|System RAM\)$/\1 \2/p' "$log" |
	while read -r a b; do
		echo "$(( (a + 4095) / 4096 * 4096 )) $(( (b + 1) / 4096 * 4096 ))"
	done
}

# merge_ranges: "START END" lines (hex or decimal), sorted, touching ones
# merged, printed as hex
merge_ranges() {
	mr_s= mr_e=
	while read -r mr_a mr_b; do
		if [ -n "$mr_e" ] && [ "$((mr_a))" -le "$((mr_e))" ]; then
			[ "$((mr_b))" -gt "$((mr_e))" ] && mr_e=$mr_b
		else
			[ -n "$mr_s" ] && printf '0x%x 0x%x\n' "$mr_s" "$mr_e"
			mr_s=$mr_a mr_e=$mr_b
		fi
	done
	[ -n "$mr_s" ] && printf '0x%x 0x%x\n' "$mr_s" "$mr_e"
	return 0
}

# qemu_ranges CALL: QEMU's shared extents of report CALL inside the
# guest's e820 RAM, merged
qemu_ranges() {
	e820_ram > /tmp/qe2e-e820
	grep "gmem-pv: SHARED-EXTENT call=$1 " "$log" |
		sed 's/.* start=\(0x[0-9a-f]*\) end=\(0x[0-9a-f]*\).*/\1 \2/' |
		while read -r s e; do
			while read -r rs re; do
				cs=$((s)) ce=$((e))
				[ $cs -lt $rs ] && cs=$rs
				[ $ce -gt $re ] && ce=$re
				[ $ce -gt $cs ] && echo "$cs $ce"
			done < /tmp/qe2e-e820
		done | sort -n | merge_ranges
}

# ranges_pages: pages in the "START END" lines of stdin
ranges_pages() {
	rp_n=0
	while read -r mr_a mr_b; do
		rp_n=$((rp_n + (mr_b - mr_a) / 4096))
	done
	echo $rp_n
}

# same_shared CALL: the guest's list at exit, complete (its length and md5
# as the guest printed them), is QEMU's report CALL in the guest's RAM,
# range for range.  Says why not as TAP comments.
same_shared() {
	sr_g=/tmp/qe2e-$name.guest-ranges sr_h=/tmp/qe2e-$name.qemu-ranges
	sed -n 's/^GUEST-SHARED-RANGE at=exit //p' "$log" > $sr_g
	qemu_ranges "$1" > $sr_h
	sr_line=$(grep '^GUEST-GMEMPV' "$log" | grep 'shared_ranges=' | tail -1)
	sr_gn=$(echo "$sr_line" | tr ' ' '\n' | sed -n 's/^shared_ranges=//p')
	sr_sum=$(echo "$sr_line" | tr ' ' '\n' | sed -n 's/^shared_ranges_md5=//p')
	sr_gpages=$(echo "$sr_line" | tr ' ' '\n' | sed -n 's/^shared_pages=//p')
	sr_n=$(wc -l < $sr_g | tr -d ' ')
	sr_pages=$(ranges_pages < $sr_g)
	echo "# shared GPAs at exit: guest $sr_n ranges, $sr_pages pages" \
	     "(shared_pages=${sr_gpages:-?}); QEMU (call=$1, in e820 RAM)" \
	     "$(wc -l < $sr_h | tr -d ' ') ranges, $(ranges_pages < $sr_h) pages"
	if [ -z "$sr_line" ] || [ "$sr_gn" != "$sr_n" ] ||
	   [ "$sr_sum" != "$(md5sum < $sr_g | cut -c1-32)" ]; then
		echo "# the guest's list is incomplete (printed n=${sr_gn:-?} md5=${sr_sum:-?}; read $sr_n lines)"
		return 1
	fi
	if [ "$sr_gpages" != "$sr_pages" ]; then
		echo "# the guest's shared_pages ${sr_gpages:-?} is not its list's $sr_pages"
		return 1
	fi
	if ! cmp -s $sr_g $sr_h; then
		echo "# guest (-) and QEMU (+) differ:"
		diff $sr_g $sr_h | grep '^[-+]0' | head -20 | sed 's/^/#   /'
		return 1
	fi
	[ "$sr_n" -gt 0 ]
}

# exit_call: the number of QEMU's exit report (its last SHARED-EXTENTS-END)
exit_call() {
	grep 'gmem-pv: SHARED-EXTENTS-END' "$log" | tail -1 | sed 's/.*call=\([0-9]*\).*/\1/'
}

# extents_checks LABEL: QEMU's exit report equals the guest's list
extents_checks() {
	call=$(exit_call)
	[ -n "$call" ] && grep -q "gmem-pv: SHARED-EXTENT call=$call " "$log"
	ok $? "${1:+$1: }QEMU reported the guest_memfd's shared extents at exit (call ${call:-none})"
	same_shared "$call"
	ok $? "${1:+$1: }QEMU's shared extents in the guest's e820 RAM are exactly the guest driver's list, range for range ($sr_n ranges, $sr_pages pages)"
}

shared_extents() {
	echo "1..4"
	APPEND="gmemvm.test=disk gmemvm.mb=$MB" run_qemu extents --disk
	exited 0
	ok $? "protected guest with a disk exits 0"
	extents_checks
	gs=$(field shared_pages GUEST-GMEMPV)
	[ -n "$gs" ] && [ "$gs" -gt 0 ]
	ok $? "the guest shared memory (swiotlb, kvmclock, rings): $gs pages"
}

# virtio-rng-pci (modern, ACCESS_PLATFORM) rebound 40 times: its
# DMA-coherent rings converted both ways through the in-kernel service,
# each read returning its bytes, and QEMU's extents at exit still the
# guest's list.  $RNGDEV replaces the device (for a negative run).
rng_rebind() {
	echo "1..6"
	APPEND="gmemvm.test=rng" run_qemu rng -- \
		-device ${RNGDEV:-virtio-rng-pci,iommu_platform=on,disable-legacy=on}
	exited 0
	ok $? "protected guest with virtio-rng-pci (iommu_platform=on) exits 0 (QEMU $rc)"
	grep -q 'GUEST-RNG rebinds=40 reads=40' "$log"
	ok $? "40 rebinds, each read of /dev/hwrng returned 64 bytes ($(grep GUEST-RNG "$log" | tail -1))"
	u=$(field pages_unshared GUEST-GMEMPV)
	[ -n "$u" ] && [ "$u" -gt 0 ]
	ok $? "the guest made its freed rings private again (pages_unshared=${u:-none})"
	extents_checks
	no_splat
	ok $? "no kernel splat in the guest"
}

# service=off: QEMU services the guest's KVM_HC_MAP_GPA_RANGE from
# KVM_EXIT_HYPERCALL, with KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd;
# KVM's service is never enabled, so its counters stay 0.
service_off() {
	echo "1..9"
	APPEND="gmemvm.test=disk gmemvm.mb=$MB" run_qemu service_off \
		--object gmem-pv-guest,id=gp0,debug-port=on,service=off,guest-owned=off --disk
	service_off_checks
}

service_off_checks() {
	exited 0
	ok $? "service=off: protected guest disk round trip exits 0 through the test port (QEMU $rc)"
	grep -q 'gmem-pv: protected guest: .* KVM_HC_MAP_GPA_RANGE in QEMU$' "$log" &&
		grep -q 'gmem-pv: protected guest: memory private by default' "$log" &&
		[ "$(field active GUEST-GMEMPV)" = 1 ]
	ok $? "service=off: QEMU services the hypercall, the guest driver reports a protected guest (active=1)"
	disk_ok
	ok $? "service=off: $MB MiB pattern read back intact, image file in L1 matches"
	tp=$(field qemu_to_private_pages 'gmem-pv: STATS')
	ts=$(field qemu_to_shared_pages 'gmem-pv: STATS')
	te=$(field qemu_conversion_errors 'gmem-pv: STATS')
	[ -n "$tp" ] && [ "$tp" -gt 0 ] && [ -n "$ts" ] && [ "$ts" -gt 0 ] && [ "$te" = 0 ]
	ok $? "service=off: QEMU converted (qemu_to_private_pages=$tp qemu_to_shared_pages=$ts qemu_conversion_errors=$te)"
	bad=
	for k in gmem_pv_hc_calls gmem_pv_hc_restarts gmem_pv_hc_errors \
		 gmem_pv_hint_2m_pages gmem_pv_hint_1g_pages; do
		v=$(field $k 'gmem-pv: STATS')
		[ "$v" = 0 ] || bad="$bad $k=${v:-missing}"
	done
	[ -z "$bad" ]
	ok $? "service=off: KVM's hypercall service did nothing (gmem_pv_hc_calls, _restarts, _errors, hint pages all 0)${bad:+:$bad}"
	c=$(field gmem_pv_conversions 'gmem-pv: STATS')
	[ -n "$c" ] && [ "$c" -gt 0 ]
	ok $? "service=off: the conversions were KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd (gmem_pv_conversions=$c)"
	extents_checks "service=off"
	no_splat
	ok $? "service=off: no kernel splat in the guest"
}

# microvm with the object: qboot, the disk on virtio-mmio (modern, with
# ACCESS_PLATFORM), the guest bouncing through its shared swiotlb.
microvm_protected() {
	echo "1..8"
	APPEND="gmemvm.test=disk gmemvm.mb=$MB" run_qemu microvm --microvm --disk
	microvm_checks
}

microvm_checks() {
	exited 0
	ok $? "microvm: protected guest disk round trip exits 0 through the test port (QEMU $rc)"
	grep -q 'gmem-pv: protected guest: .* MiB of RAM in 1 guest_memfd' "$log" &&
		grep -q 'gmem-pv: protected guest: memory private by default' "$log" &&
		[ "$(field active GUEST-GMEMPV)" = 1 ]
	ok $? "microvm: QEMU made a protected VM, the guest driver reports a protected guest (active=1)"
	! grep -q -E '^pci [0-9a-f]{4}:' "$log" &&
		grep -q -E 'virtio_blk virtio[0-9]+: .*\[vda\]' "$log"
	ok $? "microvm: the disk is on virtio-mmio (no PCI device enumerated)"
	disk_ok
	ok $? "microvm: $MB MiB pattern read back intact, image file in L1 matches"
	p=$(field shared_pages_end 'gmem-pv: STATS')
	g=$(field guest_pages 'gmem-pv: STATS')
	[ -n "$p" ] && [ "$p" -lt $((g / 2)) ]
	ok $? "microvm: most of the guest's RAM is private at exit ($p of $g pages shared)"
	extents_checks microvm
	no_splat
	ok $? "microvm: no kernel splat in the guest"
}

# check_log CHECKS FILE: the checks of a suite (extents: the comparison of
# shared_extents; service_off; microvm) alone on a saved guest log (the
# console and QEMU's messages, as run_qemu keeps them), e.g. one taken
# from results.log and altered, to see a check fail.  Offline there is no
# disk image: the disk check fails.
check_log() {
	log=$2 name=check rc=$(sed -n 's/^exit status \([0-9]*\) after.*/\1/p' "$2" | tail -1)
	disk=/tmp/qe2e-check.disk
	case "$1" in
	extents) echo "1..2"; extents_checks "$log" ;;
	service_off) echo "1..9"; service_off_checks ;;
	microvm) echo "1..8"; microvm_checks ;;
	esac
}

private_read_refused() {
	echo "1..4"
	APPEND="gmemvm.test=probe" run_qemu probe
	[ $rc = 65 ]
	ok $? "QEMU ends with status 65 after reading a private GPA (got $rc), no crash, no hang"
	grep -q 'gmem-pv: probe: GPA 0x1000000 is private' "$log"
	ok $? "the guest's kernel page at 16 MiB was private when QEMU read it"
	grep -q 'gmem-pv: QEMU accessed private guest memory at GPA 0x1000000 (RAM block pc.ram, offset 0x1000000, in vCPU 0, KVM exit 2): refused by KVM (SIGBUS)' "$log"
	ok $? "QEMU's SIGBUS is reported naming the GPA"
	! grep -q 'PROBE-RESULT .*leaked=1' "$log"
	ok $? "the read returned nothing"
}

# A device-style DMA write into a private page (QEMU's dma_memory_write()
# at the guest's request).  A gmem-pv guest never gives a device private
# memory itself: with swiotlb=noforce its dma-direct refuses the mapping
# (WARNING "DMA addr ... overflow") and its disk I/O hangs, so the test
# port asks QEMU to do it.
dma_private_fails() {
	echo "1..4"
	APPEND="gmemvm.test=dmaprobe" run_qemu dma
	[ $rc = 65 ]
	ok $? "QEMU ends with status 65 (got $rc): no hang, no crash"
	grep -q 'gmem-pv: dma probe: GPA 0x1000000 is private' "$log"
	ok $? "the page at 16 MiB was private when QEMU's DMA wrote to it"
	grep -q 'gmem-pv: QEMU accessed private guest memory at GPA 0x1000000 (RAM block pc.ram, offset 0x1000000, in vCPU 0, KVM exit 2): refused by KVM (SIGBUS)' "$log"
	ok $? "the DMA into private memory is reported naming the GPA"
	! grep -q 'DMA-PROBE-RESULT .*written=1' "$log"
	ok $? "the DMA write did not complete"
}

# refuse NAME WHAT PATTERN QEMU-ARGS...: QEMU must exit non-zero at once
# with the message
refuse() {
	n1=$1 what=$2 pat=$3
	shift 3
	log=/tmp/qe2e-refuse-$n1.log
	fw=
	[ -n "$QEMU_FW" ] && fw="-L $QEMU_FW"
	echo "# $QEMU ... $*"
	timeout 120 "$QEMU" $fw -accel kvm -m 512 -nodefaults -no-user-config \
		-display none -serial none -monitor none "$@" \
		-kernel $V/bzImage < /dev/null > $log 2>&1
	r=$?
	sed -e 's/^/# /' $log
	[ $r != 0 ] && [ $r != 124 ] && grep -q -- "$pat" $log
	ok $? "$what: QEMU exits non-zero ($r) saying why"
}

refusals() {
	echo "1..7"
	refuse memfd "memory-backend-memfd" \
		"its memory backend provides its own memory, which cannot be converted in place" \
		-object memory-backend-memfd,id=m0,size=512M $PROT \
		-machine $MACH_PROT,memory-backend=m0
	refuse file "memory-backend-file" \
		"its memory backend provides its own memory, which cannot be converted in place" \
		-object memory-backend-file,id=m0,size=512M,mem-path=/tmp/qe2e-ram $PROT \
		-machine $MACH_PROT,memory-backend=m0
	rm -f /tmp/qe2e-ram
	refuse hotplug "memory hotplug (slots, maxmem)" \
		"memory hotplug (-m slots=, maxmem=) is not supported" \
		-m 512,slots=2,maxmem=1G $PROT -machine $MACH_PROT
	refuse migration "-only-migratable" \
		"migration and savevm are not supported" \
		-only-migratable $PROT -machine $MACH_PROT
	refuse smm "smm=on" "smm=on is not supported" \
		$PROT -machine $MACH_PROT,smm=on
	refuse owned "guest-owned=on with service=off" "guest-owned=on needs service=on" \
		-object gmem-pv-guest,id=gp0,service=off -machine $MACH_PROT
	# migrate and savevm asked for on the monitor of a stopped VM
	log=/tmp/qe2e-refuse-monitor.log
	printf 'savevm s1\nmigrate -d exec:cat>/dev/null\ninfo migrate\nquit\n' |
		timeout 120 "$QEMU" ${QEMU_FW:+-L $QEMU_FW} -accel kvm -cpu host -m 512 -nodefaults \
			-no-user-config -display none -serial none -S -monitor stdio \
			$PROT -machine $MACH_PROT -kernel $V/bzImage > $log 2>&1
	sed -e 's/^/# /' $log
	[ "$(grep -c 'migration and savevm are not supported' $log)" -ge 2 ] &&
		! grep -q 'Migration status: completed' $log
	ok $? "savevm and migrate on the monitor are refused, naming why"
}

# QEMU's default CPU model (qemu64) has no RDRAND, without which a
# confidential guest's kernel panics in setup_arch() ("RDRAND is
# defective.", before its console and before panic= is parsed, so it
# hung silently): the object refuses such a model, naming RDRAND; with
# +rdrand the same model boots protected.
cpu_model() {
	echo "1..3"
	refuse rdrand "QEMU's default CPU model (qemu64, no RDRAND)" \
		"CPU model lacks RDRAND (CPUID.1:ECX bit 30): a protected guest's kernel panics at boot without it" \
		$PROT -machine $MACH_PROT
	APPEND="gmemvm.test=boot" run_qemu cpu_rdrand --cpu qemu64,+rdrand
	exited 0 && grep -q 'GUEST-USERSPACE' "$log"
	ok $? "-cpu qemu64,+rdrand: the protected guest reaches userspace and exits 0 (QEMU $rc)"
	grep -q 'gmem-pv: protected guest: memory private by default' "$log" &&
		[ "$(field active GUEST-GMEMPV)" = 1 ] && no_splat
	ok $? "-cpu qemu64,+rdrand: the guest driver reports a protected guest (active=1), no splat"
}

refusal_no_caps() {
	echo "1..1"
	refuse nocaps "kvm without vm_memory_attributes=0" \
		"this kernel lacks private/shared state in guest_memfd (KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES): KVM_CHECK_EXTENSION(252) = 0" \
		$PROT -machine $MACH_PROT
}

# make run: the protected guest's command line and console, then boot time
# and disk throughput protected/unprotected, three runs each.
demo() {
	echo "1..2"
	i=1 pb= ub= pt= ut= pw= uw= pr= ur= fail=0
	while [ $i -le 3 ]; do
		APPEND="printk.time=1 gmemvm.test=disk gmemvm.mb=$MB" run_qemu demo_p$i --disk
		exited 0 && disk_ok || fail=1
		pb="$pb $(init_secs)"; pt="$pt $secs"
		pw="$pw $(speed GUEST-DISK-WRITE)"; pr="$pr $(speed GUEST-DISK-READ)"
		APPEND="printk.time=1 gmemvm.test=disk gmemvm.mb=$MB" run_qemu demo_u$i --unprotected --disk
		[ "$(guest_status)" = 0 ] && disk_ok || fail=1
		ub="$ub $(init_secs)"; ut="$ut $secs"
		uw="$uw $(speed GUEST-DISK-WRITE)"; ur="$ur $(speed GUEST-DISK-READ)"
		i=$((i + 1))
	done
	ok $fail "three protected and three unprotected QEMU guests did the disk round trip"
	range() { echo "$*" | tr ' ' '\n' | grep . | sort -n | sed -n '1p;$p' | tr '\n' ' ' | awk '{ printf "%s-%s", $1, $2 }'; }
	echo "# ---- gmem-pv under QEMU 10.0: protected guest report (3 runs each) ----"
	echo "# L2 kernel start to /init (guest clock): protected $(range $pb) s, unprotected $(range $ub) s"
	echo "# whole QEMU run (L1 clock, firmware and disk test included): protected $(range $pt) s, unprotected $(range $ut) s"
	echo "# disk write ($MB MiB, O_DIRECT): protected $(range $pw) MB/s, unprotected $(range $uw) MB/s"
	echo "# disk read  ($MB MiB, O_DIRECT): protected $(range $pr) MB/s, unprotected $(range $ur) MB/s"
	# protected/unprotected of the means: throughput (goal >= 0.7), and
	# unprotected/protected for boot time, so that 1 is "as fast" for both.
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); m = split(b, y, " ");
		for (i = 1; i <= n; i++) sa += x[i]; for (i = 1; i <= m; i++) sb += y[i];
		if (n && m && sb > 0) printf "%.2f", (sa / n) / (sb / m); else print "?" }'; }
	echo "# ratios of the means, protected to unprotected: boot $(ratio "$ub" "$pb") (unprotected/protected time)," \
	     "disk write $(ratio "$pw" "$uw"), read $(ratio "$pr" "$ur") (goal >= 0.7)"
	grep 'gmem-pv: STATS' /tmp/qe2e-demo_p3.log | tail -1 | sed 's/^/# /'
	[ $fail = 0 ]
	ok $? "report printed"
}

# profile: where the protected guest's disk time goes, measured side by
# side with the unprotected baseline (same device, same workload:
# gmemvm.test=diskprof, disk's dd runs between marks).  While QEMU runs, a
# sampler in L1 snapshots at each GUEST-MARK the VM's KVM stats (debugfs
# /sys/kernel/debug/kvm/PID-FD/), QEMU's page faults and its threads' CPU
# time; the report gives each phase's deltas, next to the guest's own
# counters.  A measurement: its cases only say that it ran.
prof_snap() {	# prof_snap PID MARK: one line per counter, "MARK KEY VALUE"
	for d in /sys/kernel/debug/kvm/"$1"-*; do
		[ -d "$d" ] || continue
		for f in "$d"/*; do
			[ -f "$f" ] && echo "$2 kvm.${f##*/} $(cat "$f" 2>/dev/null)"
		done
	done
	p=$1 m=$2
	# /proc/PID/stat after "comm) ": state, ..., minflt is the 8th field,
	# majflt the 10th, utime and stime the 12th and 13th
	set -- $(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null)
	echo "$m qemu.minflt ${8:-0}"
	echo "$m qemu.majflt ${10:-0}"
	echo "$m qemu.utime_ticks ${12:-0}"
	echo "$m qemu.stime_ticks ${13:-0}"
	for t in /proc/"$p"/task/*; do
		c=$(tr ' /' _. < "$t/comm" 2>/dev/null)
		set -- $(sed 's/.*) //' "$t/stat" 2>/dev/null)
		echo "$m thread.$c.utime_ticks ${12:-0}"
		echo "$m thread.$c.stime_ticks ${13:-0}"
		echo "$m thread.$c.minflt ${8:-0}"
	done
	awk -v m="$m" '{ print m " vmstat." $1 " " $2 }' /proc/vmstat |
		grep -E 'vmstat\.(thp_|pgfault|pgmajfault|nr_tlb)'
}

prof_sampler() {	# prof_sampler RAWLOG OUT: until QEMU is gone
	seen=0 pid=
	while :; do
		p=$(pidof qemu-system-x86_64)
		if [ -z "$p" ]; then
			[ -n "$pid" ] && break
			sleep 0.2
			continue
		fi
		pid=$p
		n=$(grep -c '^GUEST-MARK' "$1" 2>/dev/null)
		while [ "${n:-0}" -gt "$seen" ]; do
			seen=$((seen + 1))
			m=$(grep '^GUEST-MARK' "$1" | sed -n "${seen}p" | tr -d '\r' | cut -d' ' -f2)
			prof_snap "$pid" "$m" >> "$2"
		done
		sleep 0.2
	done
}

# prof_delta OUT FROM TO: the counters that changed, TO minus FROM
prof_delta() {
	awk -v a="$2" -v b="$3" '$1 == a { x[$2] += $3 } $1 == b { y[$2] += $3; k[$2] = 1 }
		END { for (i in k) if (y[i] - x[i] != 0) printf "%s=%.0f\n", i, y[i] - x[i] }' "$1" |
		sort | tr '\n' ' '
}

profile_one() {	# profile_one NAME RUN_QEMU-OPTIONS...
	n=$1
	shift
	out=/tmp/qe2e-prof-$n.snap
	rm -f "$out"
	prof_sampler "/tmp/qe2e-$n.log.raw" "$out" &
	sp=$!
	APPEND="printk.time=1 gmemvm.test=diskprof gmemvm.mb=$MB" run_qemu "$n" "$@" \
		-- -name "$n,debug-threads=on"
	wait $sp
	echo "# ---- $n: $(grep -c . "$out" 2>/dev/null) samples at marks $(cut -d' ' -f1 "$out" 2>/dev/null | uniq | tr '\n' ' ')"
	echo "# $n write phase: $(prof_delta "$out" pre-write post-write)"
	echo "# $n read phase: $(prof_delta "$out" pre-read post-read)"
	grep -E 'GUEST-DISK-(WRITE|READ)|GUEST-PROF (dd|memcpy)' "$log" | sed "s/^/# $n /"
}

profile() {
	echo "1..2"
	fail=0
	profile_one prof_p --disk
	exited 0 && disk_ok || fail=1
	profile_one prof_u --unprotected --disk
	[ "$(guest_status)" = 0 ] && disk_ok || fail=1
	ok $fail "protected and unprotected diskprof runs completed, data intact"
	[ -s /tmp/qe2e-prof-prof_p.snap ] && [ -s /tmp/qe2e-prof-prof_u.snap ]
	ok $? "the host sampled both runs"
}

# --qemu PATH: another binary (a build without a fix, to see the test fail)
if [ "$1" = --qemu ]; then
	QEMU=$2
	shift 2
fi

case "$1" in
protected_boot | disk_roundtrip | shared_extents | private_read_refused | \
dma_private_fails | refusals | refusal_no_caps | demo | profile | service_off | \
microvm_protected | cpu_model | rng_rebind)
	"$1" ;;
check_log)
	case "$2" in
	extents | service_off | microvm) [ -f "$3" ] ;;
	*) false ;;
	esac || { echo "usage: protected.sh check_log extents|service_off|microvm LOG" >&2; exit 2; }
	check_log "$2" "$3" ;;
*)
	echo "usage: protected.sh protected_boot|disk_roundtrip|shared_extents|private_read_refused|dma_private_fails|refusals|refusal_no_caps|demo|profile|service_off|microvm_protected|cpu_model|rng_rebind|check_log CHECKS LOG" >&2
	exit 2 ;;
esac
[ "$failed" = 0 ]
