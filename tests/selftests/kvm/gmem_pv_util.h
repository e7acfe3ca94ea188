/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv selftests: helpers shared by the tests and benchmarks.
 */
#ifndef SELFTEST_KVM_GMEM_PV_UTIL_H
#define SELFTEST_KVM_GMEM_PV_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <linux/sizes.h>

#include "kvm_util.h"
#include "ucall_common.h"

static const struct vm_shape gmem_pv_protected_shape = {
	.mode = VM_MODE_DEFAULT,
	.type = KVM_X86_SW_PROTECTED_VM,
};

static sigjmp_buf gmem_pv_sigbus_jmp;

static inline void gmem_pv_sigbus_handler(int sig)
{
	siglongjmp(gmem_pv_sigbus_jmp, 1);
}

/*
 * Read @p from host userspace, if it may: a private guest_memfd page raises
 * SIGBUS.  One thread at a time.
 */
static inline bool host_read(u8 *p, u8 *val)
{
	struct sigaction sa = { .sa_handler = gmem_pv_sigbus_handler }, old;
	bool ok = false;

	sigaction(SIGBUS, &sa, &old);
	if (!sigsetjmp(gmem_pv_sigbus_jmp, 1)) {
		*val = READ_ONCE(*p);
		ok = true;
	}
	sigaction(SIGBUS, &old, NULL);
	return ok;
}

static inline bool host_can_read(u8 *p)
{
	u8 val;

	return host_read(p, &val);
}

/* Monotonic nanoseconds, for the benchmarks' side-by-side ratios. */
static inline u64 gmem_pv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * Run @vcpu to its next ucall (a port I/O exit) and return the command,
 * reporting a guest assertion as the test's failure.
 */
static inline u64 gmem_pv_run_to_ucall(struct kvm_vcpu *vcpu, struct ucall *uc)
{
	u64 cmd;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	cmd = get_ucall(vcpu, uc);
	if (cmd == UCALL_ABORT)
		REPORT_GUEST_ASSERT(*uc);
	return cmd;
}

/* Run @vcpu to its next GUEST_SYNC(@stage). */
static inline void gmem_pv_run_to_sync(struct kvm_vcpu *vcpu, u64 stage)
{
	struct ucall uc;

	TEST_ASSERT_EQ(gmem_pv_run_to_ucall(vcpu, &uc), UCALL_SYNC);
	TEST_ASSERT_EQ(uc.args[1], stage);
}

static inline u64 vm_stat(struct kvm_vm *vm, const char *name)
{
	u64 v;

	kvm_get_stat(&vm->stats, name, &v, 1);
	return v;
}

/* KVM_SET_MEMORY_ATTRIBUTES2 on a guest_memfd; 0 or -1 with errno. */
static inline int set_attributes2(int fd, u64 offset, u64 size, u64 attributes,
				  u64 flags)
{
	struct kvm_memory_attributes2 attr = {
		.offset = offset,
		.size = size,
		.attributes = attributes,
		.flags = flags,
	};

	return ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, &attr);
}

/*
 * Is the page at @offset of guest_memfd @fd private?  Asked of guest_memfd
 * (KVM_GET_MEMORY_ATTRIBUTES2), so it works in every memslot layout, also
 * where host userspace cannot map the guest_memfd.
 */
static inline bool gmem_pv_is_private(int fd, u64 offset)
{
	struct kvm_memory_attribute_extent ext;
	struct kvm_memory_attributes2_query q = {
		.offset = offset,
		.size = PAGE_SIZE,
		.nr_extents = 1,
		.extents = (u64)(uintptr_t)&ext,
	};

	TEST_ASSERT(!ioctl(fd, KVM_GET_MEMORY_ATTRIBUTES2, &q) && q.nr_extents == 1,
		    "KVM_GET_MEMORY_ATTRIBUTES2 at 0x%lx: %s", offset, strerror(errno));
	return ext.attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE;
}

/*
 * The memslot layouts a VMM uses for a protected guest.  Every selftest that
 * converts or faults runs in each (Documentation/virt/gmem-pv/build-and-test.rst):
 *
 * GMEM_PV_LAYOUT_GMEM_ONLY:	the guest_memfd, created with GUEST_MEMFD_FLAG_MMAP,
 *				is the slot's memory, private and shared pages alike
 *				(the reference VMM, QEMU's gmem-pv-guest object);
 * GMEM_PV_LAYOUT_SPLIT_4K:	a guest_memfd without MMAP for private pages, and
 *				anonymous 4 KiB memory at userspace_addr for shared
 *				pages (QEMU's SEV-SNP/TDX layout);
 * GMEM_PV_LAYOUT_SPLIT_THP:	the same with MADV_HUGEPAGE on the shared alias, so
 *				that KVM sees 2 MiB host mappings behind shared gfns.
 */
enum gmem_pv_layout {
	GMEM_PV_LAYOUT_GMEM_ONLY,
	GMEM_PV_LAYOUT_SPLIT_4K,
	GMEM_PV_LAYOUT_SPLIT_THP,
};

static inline const char *gmem_pv_layout_name(enum gmem_pv_layout layout)
{
	switch (layout) {
	case GMEM_PV_LAYOUT_GMEM_ONLY:
		return "gmem-only";
	case GMEM_PV_LAYOUT_SPLIT_4K:
		return "split-4k";
	case GMEM_PV_LAYOUT_SPLIT_THP:
		return "split-thp";
	}
	return "?";
}

/**
 * struct gmem_pv_mem - a memslot of a protected guest in one layout
 * @layout:	how the slot is laid out
 * @fd:		the guest_memfd
 * @size:	bytes in the slot (and in the guest_memfd)
 * @gmem:	the guest_memfd's own mapping (gmem-only), else NULL
 * @shared:	where host userspace sees the slot's shared pages: @gmem, or
 *		the anonymous alias at userspace_addr (split)
 * @alias_map:	the whole reservation @shared lies 2 MiB aligned in: the
 *		anonymous alias (split), or PROT_NONE memory the guest_memfd
 *		is mapped over (gmem-only), so that a 2 MiB folio could be
 *		mapped by one PMD
 * @alias_len:	its length
 */
struct gmem_pv_mem {
	enum gmem_pv_layout layout;
	int fd;
	u64 size;
	u8 *gmem;
	u8 *shared;
	void *alias_map;
	size_t alias_len;
};

/*
 * Create a guest_memfd of @size bytes with @gmem_flags (plus MMAP for
 * gmem-only) and bind it as memslot @slot at @gpa, laid out as @layout.
 * userspace_addr is 2 MiB aligned in every layout.
 */
static inline void gmem_pv_mem_add(struct kvm_vm *vm, struct gmem_pv_mem *m,
				   u32 slot, u64 gpa, u64 size, u64 gmem_flags,
				   enum gmem_pv_layout layout)
{
	bool gmem_only = layout == GMEM_PV_LAYOUT_GMEM_ONLY;
	u8 *hva;

	memset(m, 0, sizeof(*m));
	m->layout = layout;
	m->size = size;
	m->fd = vm_create_guest_memfd(vm, size, gmem_flags |
				      (gmem_only ? GUEST_MEMFD_FLAG_MMAP : 0));
	m->alias_len = size + SZ_2M;
	m->alias_map = mmap(NULL, m->alias_len,
			    gmem_only ? PROT_NONE : PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(m->alias_map != MAP_FAILED, "mmap alias: %s", strerror(errno));
	hva = (u8 *)(((uintptr_t)m->alias_map + SZ_2M - 1) &
		     ~((uintptr_t)SZ_2M - 1));
	if (gmem_only) {
		TEST_ASSERT(mmap(hva, size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, m->fd, 0) == hva,
			    "mmap guest_memfd: %s", strerror(errno));
		m->gmem = hva;
	} else {
		/* THP can back the alias and KVM map it at 2 MiB, or not. */
		TEST_ASSERT(!madvise(hva, size,
				     layout == GMEM_PV_LAYOUT_SPLIT_THP ?
				     MADV_HUGEPAGE : MADV_NOHUGEPAGE),
			    "madvise alias: %s", strerror(errno));
	}
	m->shared = hva;
	vm_set_user_memory_region2(vm, slot, KVM_MEM_GUEST_MEMFD, gpa, size,
				   hva, m->fd, 0);
}

/* Unmap what gmem_pv_mem_add() mapped and close the guest_memfd. */
static inline void gmem_pv_mem_free(struct gmem_pv_mem *m)
{
	munmap(m->alias_map, m->alias_len);
	close(m->fd);
	m->fd = -1;
}

/*
 * kselftest harness variants, one per layout, for a fixture whose
 * FIXTURE_VARIANT has a member "enum gmem_pv_layout layout".
 */
#define GMEM_PV_LAYOUT_VARIANTS(fixture)				\
	FIXTURE_VARIANT_ADD(fixture, gmem_only) {			\
		.layout = GMEM_PV_LAYOUT_GMEM_ONLY,			\
	};								\
	FIXTURE_VARIANT_ADD(fixture, split_4k) {			\
		.layout = GMEM_PV_LAYOUT_SPLIT_4K,			\
	};								\
	FIXTURE_VARIANT_ADD(fixture, split_thp) {			\
		.layout = GMEM_PV_LAYOUT_SPLIT_THP,			\
	}

/*
 * The same, times the guest_memfd's backing, for a fixture whose
 * FIXTURE_VARIANT also has a member "u64 gmem_flags" to create the file
 * with: 4 KiB folios (no suffix), or 2 MiB folios
 * (GUEST_MEMFD_FLAG_GMEM_PV_HUGE, suffix _2m; the file must cover a whole
 * 2 MiB range for that to take).
 */
#define GMEM_PV_LAYOUT_BACKING_VARIANTS(fixture)			\
	FIXTURE_VARIANT_ADD(fixture, gmem_only) {			\
		.layout = GMEM_PV_LAYOUT_GMEM_ONLY,			\
	};								\
	FIXTURE_VARIANT_ADD(fixture, gmem_only_2m) {			\
		.layout = GMEM_PV_LAYOUT_GMEM_ONLY,			\
		.gmem_flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,		\
	};								\
	FIXTURE_VARIANT_ADD(fixture, split_4k) {			\
		.layout = GMEM_PV_LAYOUT_SPLIT_4K,			\
	};								\
	FIXTURE_VARIANT_ADD(fixture, split_4k_2m) {			\
		.layout = GMEM_PV_LAYOUT_SPLIT_4K,			\
		.gmem_flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,		\
	};								\
	FIXTURE_VARIANT_ADD(fixture, split_thp) {			\
		.layout = GMEM_PV_LAYOUT_SPLIT_THP,			\
	};								\
	FIXTURE_VARIANT_ADD(fixture, split_thp_2m) {			\
		.layout = GMEM_PV_LAYOUT_SPLIT_THP,			\
		.gmem_flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,		\
	}

#endif /* SELFTEST_KVM_GMEM_PV_UTIL_H */
