# SPDX-License-Identifier: GPL-2.0
#
# gmem-pv: build one kernel (L1 host and L2 guest) from a pristine Linux 7.3
# tree with the project laid over it, build the tests, boot the nested-KVM
# test machine under QEMU and count what passed.
#
#   make run      boot the test machine and show what it does (README)
#   make check    build everything, run every suite, print 'N passed, N failed'
#   make bench    run the benchmarks in L1 on the bench kernel, print their ratios
#   make kernel   fetch, overlay, patch, configure and build the kernel only
#   make patches  write the project as a git format-patch series (build/patches)
#   make qemu-profile  where a protected QEMU guest's disk time goes
#   make boot-count  count L2 boots that take an interrupt with IF clear
#   make qemu     build QEMU 10.0 (x86_64, KVM only) for L1 (build/qemu)
#
# See README.md for the variables.

TOP		:= $(CURDIR)
BUILD		:= $(TOP)/build
KSRC		:= $(BUILD)/linux-7.3
KOBJ		:= $(BUILD)/obj
STAGE		:= $(BUILD)/stage
SELFTESTS	:= $(BUILD)/selftests
JOBS		?= $(shell nproc)

# ccache on by default when installed; GMEMPV_CCACHE=0 turns it off.
GMEMPV_CCACHE	?= 1
ifeq ($(GMEMPV_CCACHE)$(shell command -v ccache >/dev/null && echo y),1y)
KCC		:= ccache gcc
export CCACHE_BASEDIR := $(TOP)
export CCACHE_NOHASHDIR := 1
export CCACHE_SLOPPINESS := time_macros
else
KCC		:= gcc
endif
# Reproducible build stamps keep ccache hits across clones and days.
export KBUILD_BUILD_TIMESTAMP := 2026-01-01
export KBUILD_BUILD_USER := gmem-pv
export KBUILD_BUILD_HOST := build

KMAKE		:= $(MAKE) -C $(KSRC) O=$(KOBJ) CC="$(KCC)" -j$(JOBS)
BZIMAGE		:= $(KOBJ)/arch/x86/boot/bzImage

# The upstream and project selftests the suites lists name (kvm/...):
# tests/suites.conf for the first L1 boot of `make check`, and
# tests/suites-smp.conf for the second, under single-threaded TCG (the SMP
# races and stress tests; Documentation/virt/gmem-pv/build-and-test.rst).
SUITES		:= $(TOP)/tests/suites.conf
SUITES_SMP	:= $(TOP)/tests/suites-smp.conf
KVM_TESTS	:= $(sort $(shell awk '!/^\#/ && $$3 ~ /^kvm\// { sub(/^kvm\//, "", $$3); print $$3 }' \
			$(SUITES) $(SUITES_SMP)))
# Benchmarks (not tests): `make bench` runs them in L1 and prints ratios.
KVM_BENCHES	:= gmem_pv/gmem_hypercall_bench gmem_pv/gmem_huge_bench \
		   gmem_pv/gmem_fault_bench gmem_pv/gmem_frag_bench \
		   gmem_pv/gmem_scale_bench

.PHONY: all kernel config tree selftests tools vmm initramfs check run bench harness \
	qemu qemu-tree qemu-patches kernel-coco-check bench-kernel coco-suite kconfig-suite patches patches-suite \
	qemu-profile boot-count clean distclean help
.DEFAULT_GOAL := help

help:
	@sed -n '3,16p' Makefile | sed 's/^# \{0,1\}//'

all: kernel selftests initramfs

# ---- kernel -----------------------------------------------------------------
$(KSRC)/.gmempv-pristine:
	@scripts/fetch-kernel.sh $(KSRC)

tree: $(KSRC)/.gmempv-pristine
	@scripts/prepare-tree.sh $(KSRC)

CONFIG_INPUTS := $(TOP)/configs/gmem-pv.config $(TOP)/Kconfig \
		 $(wildcard $(TOP)/patches/*) scripts/kconfig.sh
$(KOBJ)/.config: $(CONFIG_INPUTS) | tree
	@scripts/kconfig.sh $(KSRC) $(KOBJ) $(TOP)/configs/gmem-pv.config

config: tree $(KOBJ)/.config

kernel: config
	@echo "  KERNEL  building with $(KCC), -j$(JOBS)"
	@$(KMAKE) -s bzImage modules
	@$(KMAKE) -s headers >/dev/null
	@rm -rf $(STAGE)/modules
	@$(KMAKE) -s modules_install INSTALL_MOD_PATH=$(STAGE)/modules >/dev/null
	@echo "  KERNEL  $(BZIMAGE)"

# ---- compile check: KVM with the confidential VM types ------------------------
# gmem-pv must leave SEV-SNP and TDX VMs on 7.3's paths, in code the test
# kernel does not build.  Build KVM (kvm.o, kvm-amd.o with SEV, kvm-intel.o
# with TDX, from arch/x86/kvm and virt/kvm) from the same prepared tree in a
# second object directory, with -Werror.  `make check` counts
# it as the suite host/kernel_coco_build.
KOBJ_COCO	:= $(BUILD)/obj-coco
KMAKE_COCO	:= $(MAKE) -C $(KSRC) O=$(KOBJ_COCO) CC="$(KCC)" -j$(JOBS)

$(KOBJ_COCO)/.config: $(CONFIG_INPUTS) $(TOP)/configs/gmem-pv-coco.config | tree
	@scripts/kconfig.sh $(KSRC) $(KOBJ_COCO) $(TOP)/configs/gmem-pv.config \
		$(TOP)/configs/gmem-pv-coco.config

kernel-coco-check: tree $(KOBJ_COCO)/.config
	@echo "  COCO    KVM with KVM_AMD_SEV and KVM_INTEL_TDX, -j$(JOBS)"
	@$(KMAKE_COCO) -s prepare
	@$(KMAKE_COCO) -s KCFLAGS=-Werror arch/x86/kvm/ > $(KOBJ_COCO)/kvm-build.log 2>&1; rc=$$?; \
	grep -E 'warning:|error:' $(KOBJ_COCO)/kvm-build.log; \
	if [ $$rc != 0 ] || grep -q 'warning:' $(KOBJ_COCO)/kvm-build.log; then \
		echo "  COCO    failed (rc=$$rc), see $(KOBJ_COCO)/kvm-build.log"; exit 1; fi
	@echo "  COCO    $$(cd $(KOBJ_COCO) && ls arch/x86/kvm/kvm*.o | tr '\n' ' ')"

coco-suite:
	@t=$$(date +%s); $(MAKE) -s kernel-coco-check > $(BUILD)/coco.out 2>&1; rc=$$?; \
	{ echo "GMEMPV-SUITE-BEGIN host/kernel_coco_build"; sed 's/^/# /' $(BUILD)/coco.out; \
	  echo "GMEMPV-SUITE-END host/kernel_coco_build rc=$$rc secs=$$(($$(date +%s) - t))"; \
	} > $(BUILD)/coco.log; cat $(BUILD)/coco.log

# ---- Kconfig: what CONFIG_GMEM_PV excludes -----------------------------------
# Starting from the test kernel's .config, kexec, kexec_file, hibernation and
# memory hotplug each turned on must turn GMEM_PV off (guest.rst, "Not
# supported").  `make check` counts it as the suite host/kconfig_unsupported.
kconfig-suite: $(KOBJ)/.config
	@t=$$(date +%s); scripts/kconfig-unsupported.sh $(KSRC) $(KOBJ) \
		$(BUILD)/obj-kconfig > $(BUILD)/kconfig.tap 2>&1; rc=$$?; \
	{ echo "GMEMPV-SUITE-BEGIN host/kconfig_unsupported"; cat $(BUILD)/kconfig.tap; \
	  echo "GMEMPV-SUITE-END host/kconfig_unsupported rc=$$rc secs=$$(($$(date +%s) - t))"; \
	} > $(BUILD)/kconfig.log; cat $(BUILD)/kconfig.log

# ---- the series for kernel developers ---------------------------------------
# scripts/make-patches.py writes the project as a git format-patch series
# against a second pristine tree (build/pristine-7.3, never modified), one
# patch per entry of scripts/patches.conf, into build/patches.  `make check`
# counts the suite host/patches_series: the series applied with git am must
# give exactly the prepared tree, and checkpatch --strict must report nothing
# beyond scripts/patches-checkpatch.allow.
PRISTINE	:= $(BUILD)/pristine-7.3

$(PRISTINE)/.gmempv-pristine:
	@scripts/fetch-kernel.sh $(PRISTINE)

patches: $(PRISTINE)/.gmempv-pristine
	@python3 scripts/make-patches.py

patches-suite: tree
	@t=$$(date +%s); \
	{ scripts/fetch-kernel.sh $(PRISTINE) > $(BUILD)/patches-fetch.out 2>&1 || \
		{ sed 's/^/# /' $(BUILD)/patches-fetch.out; false; } && \
	  python3 scripts/make-patches.py --check; } > $(BUILD)/patches-series.tap 2>&1; rc=$$?; \
	{ echo "GMEMPV-SUITE-BEGIN host/patches_series"; cat $(BUILD)/patches-series.tap; \
	  echo "GMEMPV-SUITE-END host/patches_series rc=$$rc secs=$$(($$(date +%s) - t))"; \
	} > $(BUILD)/patches-series.log; cat $(BUILD)/patches-series.log

# ---- QEMU ---------------------------------------------------------------------
# Debian's QEMU 10.0.13 source (scripts/fetch-qemu.sh: pinned ../shared/qemu,
# else apt-get source), the project's qemu/ overlay and qemu/patches/series
# laid over a copy (scripts/prepare-qemu-tree.sh), built for x86_64-softmmu
# with KVM only and the devices of qemu/configs/devices/x86_64-softmmu/
# gmem-pv.mak (scripts/build-qemu.sh), with meson from bookworm-backports
# (scripts/fetch-meson.sh).  See build-and-test.rst, "Building QEMU".
QEMU_VERSION	:= 10.0.13
QPRISTINE	:= $(BUILD)/qemu-$(QEMU_VERSION)
QSRC		:= $(BUILD)/qemu-src
QOBJ		:= $(BUILD)/qemu
MESON		:= $(BUILD)/tools/meson

$(MESON)/.gmempv-meson:
	@scripts/fetch-meson.sh $(MESON)

$(QPRISTINE)/.gmempv-pristine:
	@scripts/fetch-qemu.sh $(QPRISTINE)

qemu-tree: $(QPRISTINE)/.gmempv-pristine
	@scripts/prepare-qemu-tree.sh $(QPRISTINE) $(QSRC)

qemu: qemu-tree $(MESON)/.gmempv-meson
	@CC="$(KCC)" JOBS=$(JOBS) scripts/build-qemu.sh $(QSRC) $(QOBJ) $(MESON)/venv/bin/python3

# The QEMU changes as a git format-patch series against 10.0.13, for git am
# onto a user's own v10.0.13 (scripts/qemu-patches.sh; README.md).
qemu-patches: qemu-tree
	@scripts/qemu-patches.sh $(QPRISTINE) $(BUILD)/qemu-patches-git $(BUILD)/qemu-patches

# ---- tests ------------------------------------------------------------------
# KVM selftests (upstream and the project's, from the prepared tree), static.
selftests: kernel
	@echo "  SELFTEST $(words $(KVM_TESTS)) programs"
	@$(MAKE) -s -C $(KSRC)/tools/testing/selftests/kvm -j$(JOBS) \
		OUTPUT=$(SELFTESTS)/kvm \
		TEST_GEN_PROGS_x86="$(KVM_TESTS) $(KVM_BENCHES)" \
		EXTRA_CFLAGS=-static \
		KHDR_INCLUDES="-isystem $(KOBJ)/usr/include" \
		LINUX_HDR_PATH=$(KOBJ)/usr/include/ \
		$(addprefix $(SELFTESTS)/kvm/,$(KVM_TESTS) $(KVM_BENCHES))

tools: kernel
	@mkdir -p $(SELFTESTS)/tools
	@for f in tests/tools/*.c; do \
		gcc -static -O2 -Wall -Werror -isystem $(KOBJ)/usr/include \
			-o $(SELFTESTS)/tools/$$(basename $$f .c) $$f || exit 1; \
	done

# The reference VMM (tests/vmm/), run in L1 to boot the L2 guest.
vmm: kernel
	@mkdir -p $(SELFTESTS)/vmm
	@gcc -static -O2 -Wall -Werror -isystem $(KOBJ)/usr/include \
		-o $(SELFTESTS)/vmm/gmem-vmm tests/vmm/*.c -lpthread

# GMEMPV_INJECT_FAILURE=1 adds a suite that fails on purpose.
GMEMPV_INJECT_FAILURE ?= 0
# QEMU (make qemu) goes in for the qemu/* suites of tests/suites.conf.
initramfs: selftests tools vmm qemu
	@GMEMPV_INJECT_FAILURE=$(GMEMPV_INJECT_FAILURE) scripts/mkinitramfs.sh \
		$(BUILD)/initramfs.cpio $(STAGE)/modules $(SELFTESTS) $(BZIMAGE) $(QOBJ)

# ---- test machine -----------------------------------------------------------
harness:
	@python3 tests/harness/run.py > $(BUILD)/harness.tap; rc=$$?; \
	{ echo "GMEMPV-SUITE-BEGIN host/harness"; cat $(BUILD)/harness.tap; \
	  echo "GMEMPV-SUITE-END host/harness rc=$$rc"; } > $(BUILD)/harness.log

# Two L1 boots: tests/suites.conf on multi-threaded TCG, then
# tests/suites-smp.conf on single-threaded TCG (scripts/run-l1.sh check-smp).
# The second is left out only when GMEMPV_ONLY selects none of its suites;
# then they count as not selected.  One count for both.
check: initramfs
	@mkdir -p $(BUILD)
	@$(MAKE) -s harness
	@$(MAKE) -s coco-suite
	@$(MAKE) -s kconfig-suite
	@$(MAKE) -s patches-suite
	@scripts/run-l1.sh check $(BZIMAGE) $(BUILD)/initramfs.cpio $(BUILD)/check
	@rm -rf $(BUILD)/check-smp
	@if python3 scripts/summarize.py --any-selected $(SUITES_SMP); then \
		scripts/run-l1.sh check-smp $(BZIMAGE) $(BUILD)/initramfs.cpio $(BUILD)/check-smp; \
	else \
		echo "  QEMU    L1 check-smp: not booted, GMEMPV_ONLY selects none of its suites"; \
	fi
	@cat $(BUILD)/harness.log $(BUILD)/coco.log $(BUILD)/kconfig.log \
		$(BUILD)/patches-series.log $(BUILD)/check/results.log > $(BUILD)/check/all.log
	@python3 scripts/summarize.py $(BUILD)/check/all.log $(BUILD)/check/console.log $(SUITES) \
		--boot smp $(BUILD)/check-smp/results.log $(BUILD)/check-smp/console.log $(SUITES_SMP) \
		> $(BUILD)/check/summary.txt; rc=$$?; cat $(BUILD)/check/summary.txt; exit $$rc

run: initramfs
	@scripts/run-l1.sh run $(BZIMAGE) $(BUILD)/initramfs.cpio $(BUILD)/run
	@python3 scripts/summarize.py $(BUILD)/run/results.log $(BUILD)/run/console.log

# ---- benchmarks -------------------------------------------------------------
# Benchmarks print ratios measured side by side in one L1 run; the summary
# only says whether they ran cleanly.  They run on the bench kernel: the
# same prepared tree (overlay and series) configured with
# configs/bench.config after configs/gmem-pv.config (no KASAN, lockdep,
# UBSAN, DEBUG_VM, DEBUG_LIST, KUnit), built in build/obj-bench with its own
# modules and initramfs; the selftests are the test kernel's.
# GMEMPV_BENCH_KERNEL=test benches the test kernel instead.  `make check`
# never builds the bench kernel.
GMEMPV_BENCH_KERNEL ?= bench
KOBJ_BENCH	:= $(BUILD)/obj-bench
STAGE_BENCH	:= $(BUILD)/stage-bench
KMAKE_BENCH	:= $(MAKE) -C $(KSRC) O=$(KOBJ_BENCH) CC="$(KCC)" -j$(JOBS)
BZIMAGE_BENCH	:= $(KOBJ_BENCH)/arch/x86/boot/bzImage

$(KOBJ_BENCH)/.config: $(CONFIG_INPUTS) $(TOP)/configs/bench.config | tree
	@scripts/kconfig.sh $(KSRC) $(KOBJ_BENCH) $(TOP)/configs/gmem-pv.config \
		$(TOP)/configs/bench.config

bench-kernel: tree $(KOBJ_BENCH)/.config
	@echo "  KERNEL  bench kernel (configs/bench.config) with $(KCC), -j$(JOBS)"
	@$(KMAKE_BENCH) -s bzImage modules
	@rm -rf $(STAGE_BENCH)/modules
	@$(KMAKE_BENCH) -s modules_install INSTALL_MOD_PATH=$(STAGE_BENCH)/modules >/dev/null
	@echo "  KERNEL  $(BZIMAGE_BENCH)"

ifeq ($(GMEMPV_BENCH_KERNEL),test)
bench: initramfs
	@GMEMPV_BENCH_KERNEL=test scripts/run-l1.sh bench $(BZIMAGE) $(BUILD)/initramfs.cpio $(BUILD)/bench
	@python3 scripts/summarize.py $(BUILD)/bench/results.log $(BUILD)/bench/console.log
else ifeq ($(GMEMPV_BENCH_KERNEL),bench)
$(BUILD)/initramfs-bench.cpio: bench-kernel selftests tools vmm
	@scripts/mkinitramfs.sh $@ $(STAGE_BENCH)/modules $(SELFTESTS) $(BZIMAGE_BENCH)

bench: $(BUILD)/initramfs-bench.cpio
	@GMEMPV_BENCH_KERNEL=bench scripts/run-l1.sh bench $(BZIMAGE_BENCH) $(BUILD)/initramfs-bench.cpio $(BUILD)/bench
	@python3 scripts/summarize.py $(BUILD)/bench/results.log $(BUILD)/bench/console.log
else
bench:
	@echo "make: GMEMPV_BENCH_KERNEL must be bench or test, not '$(GMEMPV_BENCH_KERNEL)'" >&2; exit 1
endif

# How often L2 guests take an interrupt with IF clear, protected and not
# (GMEMPV_BOOTS of each, 20 by default); a measurement, not a test.
qemu-profile: initramfs
	@scripts/run-l1.sh qemu-profile $(BZIMAGE) $(BUILD)/initramfs.cpio $(BUILD)/qemu-profile
	@python3 scripts/summarize.py $(BUILD)/qemu-profile/results.log $(BUILD)/qemu-profile/console.log

boot-count: initramfs
	@scripts/run-l1.sh boots $(BZIMAGE) $(BUILD)/initramfs.cpio $(BUILD)/boots
	@python3 scripts/summarize.py $(BUILD)/boots/results.log $(BUILD)/boots/console.log

clean:
	rm -rf $(KOBJ) $(KOBJ_COCO) $(KOBJ_BENCH) $(QOBJ) $(QSRC) $(SELFTESTS) $(STAGE) $(STAGE_BENCH) \
		$(BUILD)/check $(BUILD)/check-smp $(BUILD)/qemu-profile $(BUILD)/run $(BUILD)/*.cpio $(BUILD)/patches

distclean:
	rm -rf $(BUILD)
