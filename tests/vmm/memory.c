// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-vmm: guest RAM.  Protected: one guest_memfd, mapped for the VMM,
 * written while shared and converted to private before the first KVM_RUN.
 * Unprotected: anonymous memory.  Device models reach guest memory only
 * through gm_read()/gm_write(), which turn the SIGBUS of a private page
 * into an error naming the GPA.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>

#include "vmm.h"

#define PAGE_SIZE	4096ULL

/* Per thread: where a SIGBUS in a guarded copy jumps, and what faulted. */
static __thread sigjmp_buf *fault_jmp;
static __thread uintptr_t fault_addr;

static void sigbus_handler(int sig, siginfo_t *si, void *ctx)
{
	static const char msg[] = "gmem-vmm: SIGBUS outside a guest memory access\n";

	if (!fault_jmp) {
		if (write(2, msg, sizeof(msg) - 1) < 0)
			_exit(VMM_EXIT_ERROR);
		_exit(VMM_EXIT_ERROR);
	}
	fault_addr = (uintptr_t)si->si_addr;
	siglongjmp(*fault_jmp, 1);
}

/*
 * Copy with a SIGBUS guard.  SA_NODEFER keeps SIGBUS unblocked after the
 * jump, so sigsetjmp() need not save the signal mask (no syscall per copy).
 */
static int guarded_copy(void *dst, const void *src, size_t len, uintptr_t *bad)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0)) {
		fault_jmp = NULL;
		*bad = fault_addr;
		return -1;
	}
	fault_jmp = &jb;
	memcpy(dst, src, len);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	fault_jmp = NULL;
	return 0;
}

static int check_range(uint64_t gpa, size_t len, uint64_t *bad_gpa)
{
	if (gpa >= vm.mem_size || len > vm.mem_size - gpa) {
		*bad_gpa = gpa;
		errno = ERANGE;
		return -1;
	}
	return 0;
}

/*
 * Read guest memory.  Returns 0, or -1 with *bad_gpa the first GPA that
 * could not be read and errno EFAULT (a private page) or ERANGE (not RAM).
 */
int gm_read(uint64_t gpa, void *buf, size_t len, uint64_t *bad_gpa)
{
	uintptr_t bad;

	if (check_range(gpa, len, bad_gpa))
		return -1;
	if (guarded_copy(buf, vm.mem + gpa, len, &bad)) {
		*bad_gpa = bad - (uintptr_t)vm.mem;
		errno = EFAULT;
		return -1;
	}
	return 0;
}

int gm_write(uint64_t gpa, const void *buf, size_t len, uint64_t *bad_gpa)
{
	uintptr_t bad;

	if (check_range(gpa, len, bad_gpa))
		return -1;
	if (guarded_copy(vm.mem + gpa, buf, len, &bad)) {
		*bad_gpa = bad - (uintptr_t)vm.mem;
		errno = EFAULT;
		return -1;
	}
	return 0;
}

static void mem_init_outside(struct kvm_userspace_memory_region2 *gm);

void mem_init(uint64_t size, bool protected)
{
	struct kvm_userspace_memory_region2 region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = size,
	};
	struct sigaction sa = {
		.sa_sigaction = sigbus_handler,
		.sa_flags = SA_SIGINFO | SA_NODEFER,
	};

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL))
		die("sigaction(SIGBUS): %m");

	vm.mem_size = size;
	vm.gmem_fd = -1;
	if (protected) {
		const uint64_t huge = GUEST_MEMFD_FLAG_GMEM_PV_HUGE |
				      GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED;
		struct kvm_create_guest_memfd gmem = {
			.size = size,
			.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
		};
		int supported = ioctl(vm.vm_fd, KVM_CHECK_EXTENSION,
				      KVM_CAP_GUEST_MEMFD_FLAGS);
		static const char *const what[] = {
			[HUGE_ALL] = "2 MiB folios, 2 MiB unless the guest hints 4 KiB",
			[HUGE_HINTED] = "2 MiB folios, 2 MiB where the guest hints it",
			[HUGE_OFF] = "4 KiB folios",
		};
		enum huge_mode mode = vm.huge;

		/*
		 * 2 MiB folios.  Unhinted ranges map at 2 MiB (HUGE_ALL) or at
		 * 4 KiB (_HINTED); the gmem-pv guest hints all its private RAM
		 * 2 MiB at boot, after its kernel already ran.
		 */
		if (supported <= 0 || ((uint64_t)supported & huge) != huge)
			mode = HUGE_OFF;
		if (mode == HUGE_ALL)
			gmem.flags |= GUEST_MEMFD_FLAG_GMEM_PV_HUGE;
		else if (mode == HUGE_HINTED)
			gmem.flags |= huge;
		vmm_log("guest_memfd flags %#llx (%s)", (unsigned long long)gmem.flags,
			what[mode]);

		vm.gmem_fd = ioctl(vm.vm_fd, KVM_CREATE_GUEST_MEMFD, &gmem);
		if (vm.gmem_fd < 0)
			die("KVM_CREATE_GUEST_MEMFD(MMAP|INIT_SHARED): %m (is kvm loaded with vm_memory_attributes=0?)");
		vm.mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      vm.gmem_fd, 0);
		region.flags = KVM_MEM_GUEST_MEMFD;
		region.guest_memfd = vm.gmem_fd;
		region.guest_memfd_offset = 0;
	} else {
		vm.mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (vm.mem == MAP_FAILED)
		die("mmap of guest RAM (%llu MiB): %m",
		    (unsigned long long)(size >> 20));
	region.userspace_addr = (uintptr_t)vm.mem;
	if (protected && vm.outside_gpa)
		return mem_init_outside(&region);
	if (ioctl(vm.vm_fd, KVM_SET_USER_MEMORY_REGION2, &region))
		die("KVM_SET_USER_MEMORY_REGION2: %m");
}

/*
 * --outside-gmem=GPA (a test of the guest): the 2 MiB of RAM at GPA are
 * anonymous memory in a memslot of their own, without guest_memfd, between
 * two guest_memfd slots.  The e820 map still says RAM: a guest must find
 * out, and refuse to run on it.
 */
static void mem_init_outside(struct kvm_userspace_memory_region2 *gm)
{
	uint64_t gpa = vm.outside_gpa, end = gpa + TEST_RANGE_SIZE;
	struct kvm_userspace_memory_region2 r[3];
	int i;

	if (gpa & (TEST_RANGE_SIZE - 1) || !gpa || end >= vm.mem_size)
		die("--outside-gmem=%#llx: not a 2 MiB-aligned GPA inside RAM",
		    (unsigned long long)gpa);
	if (mmap(vm.mem + gpa, TEST_RANGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap of the range outside guest_memfd: %m");
	r[0] = *gm;
	r[0].memory_size = gpa;
	r[1] = (struct kvm_userspace_memory_region2){
		.slot = 1, .guest_phys_addr = gpa, .memory_size = TEST_RANGE_SIZE,
		.userspace_addr = (uintptr_t)(vm.mem + gpa),
	};
	r[2] = *gm;
	r[2].slot = 2;
	r[2].guest_phys_addr = end;
	r[2].memory_size = vm.mem_size - end;
	r[2].userspace_addr = (uintptr_t)(vm.mem + end);
	r[2].guest_memfd_offset = end;
	for (i = 0; i < 3; i++)
		if (ioctl(vm.vm_fd, KVM_SET_USER_MEMORY_REGION2, &r[i]))
			die("KVM_SET_USER_MEMORY_REGION2 (slot %d): %m", i);
	vmm_log("RAM [%#llx, %#llx) is anonymous memory outside guest_memfd (--outside-gmem)",
		(unsigned long long)gpa, (unsigned long long)end);
}

static void set_private(uint64_t off, uint64_t size)
{
	struct kvm_memory_attributes2 attr = {
		.offset = off,
		.size = size,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
		.flags = KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
	};

	if (size && ioctl(vm.gmem_fd, KVM_SET_MEMORY_ATTRIBUTES2, &attr))
		die("KVM_SET_MEMORY_ATTRIBUTES2(private, PRESERVE): %m (error_offset %#llx)",
		    (unsigned long long)attr.error_offset);
}

/*
 * --pin=GPA (a test of the guest): the VMM holds a reference to the page
 * at GPA, as vmsplice() into a pipe nobody reads takes it, for the whole
 * run.  Its 2 MiB stay shared (a pin keeps the whole folio shared), and
 * the guest's request to make them private gets EAGAIN.
 */
static void mem_pin(void)
{
	uint64_t gpa = vm.pin_gpa;
	struct iovec iov = { .iov_base = vm.mem + gpa, .iov_len = PAGE_SIZE };

	if (gpa & (TEST_RANGE_SIZE - 1) || !gpa ||
	    gpa + TEST_RANGE_SIZE >= vm.mem_size)
		die("--pin=%#llx: not a 2 MiB-aligned GPA inside RAM",
		    (unsigned long long)gpa);
	if (pipe(vm.pin_pipe))
		die("pipe: %m");
	if (vmsplice(vm.pin_pipe[1], &iov, 1, 0) != (ssize_t)PAGE_SIZE)
		die("vmsplice of GPA %#llx: %m", (unsigned long long)gpa);
	vmm_log("GPA %#llx pinned by the VMM, [%#llx, %#llx) left shared (--pin)",
		(unsigned long long)gpa, (unsigned long long)gpa,
		(unsigned long long)(gpa + TEST_RANGE_SIZE));
}

/*
 * All RAM private, contents kept: done once, before the first KVM_RUN.
 * With --pin, all but the pinned 2 MiB.
 */
void mem_make_private(void)
{
	if (!vm.pin_gpa) {
		set_private(0, vm.mem_size);
		return;
	}
	mem_pin();
	set_private(0, vm.pin_gpa);
	set_private(vm.pin_gpa + TEST_RANGE_SIZE,
		    vm.mem_size - vm.pin_gpa - TEST_RANGE_SIZE);
}

/* Debugging only: all RAM shared again, contents kept. */
void mem_make_shared(void)
{
	struct kvm_memory_attributes2 attr = {
		.offset = 0,
		.size = vm.mem_size,
		.flags = KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
	};

	if (vm.gmem_fd >= 0 && ioctl(vm.gmem_fd, KVM_SET_MEMORY_ATTRIBUTES2, &attr))
		vmm_log("KVM_SET_MEMORY_ATTRIBUTES2(shared): %m");
}

/*
 * Walk the guest_memfd's state as extents; call fn for each.  Returns the
 * number of shared pages.
 */
static uint64_t walk_extents(void (*fn)(struct kvm_memory_attribute_extent *))
{
	static struct kvm_memory_attribute_extent ext[256];
	uint64_t off = 0, shared = 0;

	while (off < vm.mem_size) {
		struct kvm_memory_attributes2_query q = {
			.offset = off,
			.size = vm.mem_size - off,
			.nr_extents = 256,
			.extents = (uintptr_t)ext,
		};
		uint64_t i;

		if (ioctl(vm.gmem_fd, KVM_GET_MEMORY_ATTRIBUTES2, &q) || !q.nr_extents) {
			vmm_log("KVM_GET_MEMORY_ATTRIBUTES2 at %#llx: %m",
				(unsigned long long)off);
			return 0;
		}
		for (i = 0; i < q.nr_extents; i++) {
			if (!(ext[i].attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE))
				shared += ext[i].size / PAGE_SIZE;
			if (fn)
				fn(&ext[i]);
		}
		off = ext[q.nr_extents - 1].offset + ext[q.nr_extents - 1].size;
	}
	return shared;
}

uint64_t mem_shared_pages(void)
{
	if (!vm.protected)
		return vm.mem_size / PAGE_SIZE;
	return walk_extents(NULL);
}

static bool page_is_private(uint64_t gpa)
{
	struct kvm_memory_attribute_extent ext;
	struct kvm_memory_attributes2_query q = {
		.offset = gpa & ~(PAGE_SIZE - 1),
		.size = PAGE_SIZE,
		.nr_extents = 1,
		.extents = (uintptr_t)&ext,
	};

	if (ioctl(vm.gmem_fd, KVM_GET_MEMORY_ATTRIBUTES2, &q) || q.nr_extents != 1)
		return false;
	return ext.attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE;
}

static uint64_t first_shared_gpa;

static void find_shared(struct kvm_memory_attribute_extent *e)
{
	if (!first_shared_gpa && !(e->attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE))
		first_shared_gpa = e->offset + 1;	/* +1: GPA 0 counts */
}

/*
 * One way of reading the page at @gpa from host userspace.  Returns 1 if
 * the read succeeded, 0 if it failed; *how says how it failed.
 */
static int probe_read(int method, uint64_t gpa, const char **how)
{
	static char howbuf[96];
	uint8_t buf[64];
	uintptr_t bad;
	void *p;
	int fd, ok;
	ssize_t n;

	switch (method) {
	case 0:	/* the VMM's own mapping of the guest_memfd */
		ok = !guarded_copy(buf, vm.mem + gpa, sizeof(buf), &bad);
		*how = ok ? "read" : "SIGBUS";
		return ok;
	case 1:	/* a fresh mapping of the guest_memfd */
		p = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_SHARED, vm.gmem_fd, gpa);
		if (p == MAP_FAILED) {
			snprintf(howbuf, sizeof(howbuf), "mmap: %s", strerror(errno));
			*how = howbuf;
			return 0;
		}
		ok = !guarded_copy(buf, p, sizeof(buf), &bad);
		munmap(p, PAGE_SIZE);
		*how = ok ? "read" : "SIGBUS";
		return ok;
	case 2:	/* read() on the guest_memfd */
		n = pread(vm.gmem_fd, buf, sizeof(buf), gpa);
		snprintf(howbuf, sizeof(howbuf), "pread: %s",
			 n < 0 ? strerror(errno) : "read");
		*how = howbuf;
		return n > 0;
	case 3:	/* /proc/self/mem at the VMM's mapping */
		fd = open("/proc/self/mem", O_RDONLY);
		if (fd < 0) {
			*how = "open /proc/self/mem failed";
			return 0;
		}
		n = pread(fd, buf, sizeof(buf), (uintptr_t)(vm.mem + gpa));
		close(fd);
		snprintf(howbuf, sizeof(howbuf), "/proc/self/mem: %s",
			 n < 0 ? strerror(errno) : "read");
		*how = howbuf;
		return n > 0;
	}
	return 0;
}

static const char *const probe_names[] = {
	"VMM mapping", "new mmap", "pread(guest_memfd)", "/proc/PID/mem",
};

/*
 * The private-page probe: host userspace tries every way it has to read a
 * page the guest keeps private (the first page of the guest kernel's
 * text); each must fail.  A shared page read the same ways is the control:
 * it shows the methods work at all.  Prints TAP-like lines the e2e test
 * checks.
 */
void mem_probe(void)
{
	uint64_t gpa = vm.kernel_gpa;
	int i, leaks = 0;
	const char *how;

	if (!vm.protected) {
		vmm_log("probe: unprotected VM, nothing is private");
		return;
	}
	if (!page_is_private(gpa)) {
		vmm_log("probe: FAIL: GPA %#llx is not private",
			(unsigned long long)gpa);
		vmm_log("PROBE-RESULT private_gpa=%#llx attempts=0 leaked=1",
			(unsigned long long)gpa);
		return;
	}
	for (i = 0; i < 4; i++) {
		int ok = probe_read(i, gpa, &how);

		leaks += ok;
		vmm_log("probe: private GPA %#llx via %s: %s (%s)",
			(unsigned long long)gpa, probe_names[i],
			ok ? "READ SUCCEEDED" : "refused", how);
	}
	first_shared_gpa = 0;
	walk_extents(find_shared);
	if (first_shared_gpa) {
		uint64_t s = first_shared_gpa - 1;

		/* pread() is never supported on guest_memfd: no control. */
		for (i = 0; i < 4; i++) {
			if (i == 2)
				continue;
			vmm_log("probe: control: shared GPA %#llx via %s: %s",
				(unsigned long long)s, probe_names[i],
				probe_read(i, s, &how) ? "read" : how);
		}
	} else {
		vmm_log("probe: control: no shared page in the guest");
	}
	vmm_log("PROBE-RESULT private_gpa=%#llx attempts=4 leaked=%d",
		(unsigned long long)gpa, leaks);
}

/*
 * Print the binary stats of a VM or vCPU fd whose names start with one of
 * @want (all non-zero ones if @want is NULL), on one line after @prefix.
 */
void print_stats(int obj_fd, const char *prefix, const char *const *want,
		 int nr_want)
{
	struct kvm_stats_header h;
	struct kvm_stats_desc *d;
	char *descs, line[2048];
	unsigned int j;
	int fd, i, n;
	size_t dsz;

	fd = ioctl(obj_fd, KVM_GET_STATS_FD, NULL);
	if (fd < 0 || pread(fd, &h, sizeof(h), 0) != sizeof(h))
		return;
	dsz = sizeof(*d) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	if (!descs || pread(fd, descs, h.num_desc * dsz, h.desc_offset) !=
	    (ssize_t)(h.num_desc * dsz))
		goto out;
	n = snprintf(line, sizeof(line), "%s", prefix);
	for (j = 0; j < h.num_desc; j++) {
		uint64_t val;

		d = (struct kvm_stats_desc *)(descs + j * dsz);
		for (i = 0; i < nr_want; i++)
			if (!strncmp(d->name, want[i], strlen(want[i])))
				break;
		if ((want && i == nr_want) || d->size != 1)
			continue;
		if (pread(fd, &val, 8, h.data_offset + d->offset) == 8 &&
		    (want || val) && n < (int)sizeof(line))
			n += snprintf(line + n, sizeof(line) - n, " %s=%llu",
				      d->name, (unsigned long long)val);
	}
	if (want)
		vmm_log("%s shared_pages_end=%llu guest_pages=%llu", line,
			(unsigned long long)mem_shared_pages(),
			(unsigned long long)(vm.mem_size / PAGE_SIZE));
	else
		vmm_log("%s", line);
out:
	free(descs);
	close(fd);
}

/* The VM's conversion counters, mappings and the pages shared now. */
void mem_stats(void)
{
	static const char *const want[] = {
		"gmem_pv_", "pages_4k", "pages_2m", "pages_1g",
	};

	print_stats(vm.vm_fd, "STATS", want, 4);
}

/*
 * --canary: the stale-data scan.  The guest fills and frees memory with
 * the canary word early in boot; no page it shares afterwards may hold it,
 * except one it shares with its contents on purpose (the control).  Each
 * range is scanned when KVM reports it shared (the vCPU is stopped, so a
 * guest that clears only after sharing is caught) and every shared page
 * again when the VMM exits.  Each run of pages with a hit is logged.
 */
static uint64_t canary_scanned[2], canary_hits[2], canary_lines[2];

static int canary_when(const char *when)
{
	return strcmp(when, "share") ? 1 : 0;
}

void mem_canary_scan(uint64_t gpa, uint64_t len, const char *when)
{
	static __thread uint64_t page[PAGE_SIZE / 8];
	int w = canary_when(when);
	uint64_t off, bad;

	if (!vm.canary || !vm.protected)
		return;
	uint64_t run_start = 0, run_pages = 0, run_words = 0;

	for (off = 0; off <= len; off += PAGE_SIZE) {
		unsigned int i, n = 0;

		if (off < len && gm_read(gpa + off, page, PAGE_SIZE, &bad)) {
			vmm_log("CANARY %s: GPA %#llx unreadable", when,
				(unsigned long long)(gpa + off));
		} else if (off < len) {
			__atomic_add_fetch(&canary_scanned[w], 1, __ATOMIC_RELAXED);
			for (i = 0; i < PAGE_SIZE / 8; i++)
				n += page[i] == vm.canary;
		}
		if (n) {
			if (!run_pages)
				run_start = gpa + off;
			run_pages++;
			run_words += n;
			__atomic_add_fetch(&canary_hits[w], 1, __ATOMIC_RELAXED);
			continue;
		}
		/* One line per run of pages with hits, 64 lines at most. */
		if (run_pages &&
		    __atomic_add_fetch(&canary_lines[w], 1, __ATOMIC_RELAXED) <= 64)
			vmm_log("CANARY-HIT %s gpa=%#llx pages=%llu words=%llu", when,
				(unsigned long long)run_start,
				(unsigned long long)run_pages,
				(unsigned long long)run_words);
		run_pages = run_words = 0;
	}
}

static void canary_scan_extent(struct kvm_memory_attribute_extent *e)
{
	if (!(e->attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE))
		mem_canary_scan(e->offset, e->size, "exit");
}

void mem_canary_report(void)
{
	if (!vm.canary || !vm.protected)
		return;
	walk_extents(canary_scan_extent);
	vmm_log("CANARY-RESULT canary=%#llx share_scanned=%llu share_hits=%llu exit_scanned=%llu exit_hits=%llu",
		(unsigned long long)vm.canary,
		(unsigned long long)canary_scanned[0],
		(unsigned long long)canary_hits[0],
		(unsigned long long)canary_scanned[1],
		(unsigned long long)canary_hits[1]);
}

/*
 * --fail-share=N: KVM_HC_MAP_GPA_RANGE serviced here, upstream style (the
 * hint is not used).  The Nth one-page private->shared request is carried
 * out and then reported failed, the worst a host can do: the guest is told
 * the page is not shared while it is.  The page is copied then, and
 * compared when the VMM exits: a guest that freed it and used it again
 * changed it.
 */
static uint64_t failed_gpa = -1ULL;
static uint8_t failed_copy[PAGE_SIZE];
static int one_page_shares;

long mem_map_gpa_range(uint64_t gpa, uint64_t npages, uint64_t attrs)
{
	bool private = attrs & KVM_MAP_GPA_RANGE_ENCRYPTED;
	struct kvm_memory_attributes2 a = {
		.offset = gpa,
		.size = npages * PAGE_SIZE,
		.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.flags = KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
	};
	uint64_t bad;
	int n = 0;

	if ((gpa & (PAGE_SIZE - 1)) || !npages || gpa >= vm.mem_size ||
	    npages > (vm.mem_size - gpa) / PAGE_SIZE ||
	    (attrs & ~KVM_GMEM_PV_HC_VALID_ATTRS))
		return -KVM_EINVAL;
	if (!private && npages == 1)
		n = __atomic_add_fetch(&one_page_shares, 1, __ATOMIC_SEQ_CST);
	if (!private && npages == 1)
		vmm_log("one-page share %d: GPA %#llx", n, (unsigned long long)gpa);
	if (ioctl(vm.gmem_fd, KVM_SET_MEMORY_ATTRIBUTES2, &a))
		return errno == EAGAIN ? -KVM_GMEM_PV_EAGAIN :
		       errno == ENOMEM ? -KVM_GMEM_PV_ENOMEM : -KVM_EINVAL;
	if (n && n == vm.fail_share) {
		if (gm_read(gpa, failed_copy, PAGE_SIZE, &bad))
			return -KVM_EINVAL;
		failed_gpa = gpa;
		vmm_log("FAIL-SHARE gpa=%#llx: shared, reported as failed",
			(unsigned long long)gpa);
		return -KVM_EINVAL;
	}
	return 0;
}

void mem_fail_share_report(void)
{
	uint8_t now_page[PAGE_SIZE];
	uint64_t bad;

	if (!vm.fail_share)
		return;
	if (failed_gpa == -1ULL) {
		vmm_log("FAIL-SHARE-RESULT none (only %d one-page shares)",
			one_page_shares);
		return;
	}
	if (page_is_private(failed_gpa)) {
		vmm_log("FAIL-SHARE-RESULT gpa=%#llx state=private",
			(unsigned long long)failed_gpa);
		return;
	}
	if (gm_read(failed_gpa, now_page, PAGE_SIZE, &bad)) {
		vmm_log("FAIL-SHARE-RESULT gpa=%#llx state=unreadable",
			(unsigned long long)failed_gpa);
		return;
	}
	vmm_log("FAIL-SHARE-RESULT gpa=%#llx state=shared changed=%s",
		(unsigned long long)failed_gpa,
		memcmp(now_page, failed_copy, PAGE_SIZE) ? "yes" : "no");
}

static unsigned int extents_call;
static char extents_label[16];
static uint64_t extents_total;

static void log_shared_extent(struct kvm_memory_attribute_extent *e)
{
	if (e->attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE)
		return;
	extents_total += e->size / PAGE_SIZE;
	vmm_log("SHARED-EXTENT call=%s start=%#llx end=%#llx", extents_label,
		(unsigned long long)e->offset,
		(unsigned long long)(e->offset + e->size));
}

/*
 * The guest asked (EVENT_SHARED_EXTENTS) for the guest_memfd's shared
 * extents: one SHARED-EXTENT line each, numbered by the request (the
 * first is call=1), then SHARED-EXTENTS-END with their total.  At the
 * VMM's exit, with every vCPU stopped, the same as call=exit (@label).
 * The same mark goes to L1's trace buffer, if tracefs is mounted, so that
 * a test can tell which KVM trace events came between two requests.
 */
void mem_log_shared_extents(const char *label)
{
	char mark[64];
	int fd, n;

	if (label)
		snprintf(extents_label, sizeof(extents_label), "%s", label);
	else
		snprintf(extents_label, sizeof(extents_label), "%u", ++extents_call);
	extents_total = 0;
	if (vm.protected)
		walk_extents(log_shared_extent);
	vmm_log("SHARED-EXTENTS-END call=%s shared_pages=%llu protected=%d",
		extents_label, (unsigned long long)extents_total, vm.protected);

	fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY);
	if (fd < 0)
		return;
	n = snprintf(mark, sizeof(mark), "gmem-vmm: shared extents call=%s\n",
		     extents_label);
	if (write(fd, mark, n) != n)
		vmm_log("trace_marker: %m");
	close(fd);
}
