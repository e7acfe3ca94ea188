// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: 2 MiB guest_memfd folios and hint-driven 2 MiB mappings.
 *
 * Needs kvm.gmem_in_place_conversion=1.  A guest touches guest_memfd memory
 * created with GUEST_MEMFD_FLAG_GMEM_PV_HUGE and the host reads x86's
 * pages_2m/pages_4k and gmem-pv's stats: a 64 MiB private region hinted
 * 2 MiB maps at 2 MiB; hints, the _HINTED default and 1 GiB hints set the
 * level; converting one 4 KiB page drops its 2 MiB range to 4 KiB with
 * contents intact on both sides and host userspace seeing only the shared
 * page, and converting it back restores 2 MiB; a hole punched in part of a
 * 2 MiB folio reads as zeroes; without the flag nothing maps at 2 MiB.
 * Every case that faults runs in each memslot layout (fixture "layout":
 * gmem-only, split with a 4 KiB alias, split with a THP alias); those that
 * work through the host's own mapping of the guest_memfd are gmem-only.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define TEST_GPA	SZ_4G
#define TEST_SLOT	1
#define PATTERN		0x5a5a0000a5a50000ull
#define NO_HINT		(~0ull)
#define HUGE		GUEST_MEMFD_FLAG_GMEM_PV_HUGE
#define HINTED		GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED
#define H4K		KVM_MAP_GPA_RANGE_PAGE_SZ_4K
#define H2M		KVM_MAP_GPA_RANGE_PAGE_SZ_2M
#define H1G		KVM_MAP_GPA_RANGE_PAGE_SZ_1G
#define PRIV		KVM_GMEM_PV_HC_PRIVATE

/* What the next guest pass does; set by the host before each run. */
static u64 g_size;		/* bytes from TEST_GPA to touch */
static u64 g_hint = NO_HINT;	/* KVM_HC_MAP_GPA_RANGE attrs first, or none */
static u64 g_write;		/* write the pattern (else check it) */
static u64 g_special_gpa;	/* one page that holds g_special_val */
static u64 g_special_val;

static u64 pattern(u64 gpa)
{
	return gpa ^ PATTERN;
}

/* One pass per run: hint, then write or check every 4 KiB page. */
static void guest_code(void)
{
	u64 gpa;

	for (;;) {
		if (g_hint != NO_HINT)
			GUEST_ASSERT_EQ(kvm_hypercall(KVM_HC_MAP_GPA_RANGE, TEST_GPA,
						      g_size / PAGE_SIZE, g_hint, 0), 0);
		for (gpa = TEST_GPA; gpa < TEST_GPA + g_size; gpa += PAGE_SIZE) {
			u64 want = gpa == g_special_gpa ? g_special_val : pattern(gpa);

			if (g_write)
				WRITE_ONCE(*(u64 *)gpa, want);
			else
				__GUEST_ASSERT(READ_ONCE(*(u64 *)gpa) == want,
					       "gpa 0x%lx: 0x%lx, expected 0x%lx",
					       gpa, *(u64 *)gpa, want);
		}
		GUEST_SYNC(0);
	}
}

struct env {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	int fd;
	u64 size;
	bool gmem_only;
	u8 *mem;	/* 2 MiB-aligned host mapping, if GUEST_MEMFD_FLAG_MMAP */
	u64 map_size;	/* its size */
	u8 *shared;	/* where host userspace sees shared pages */
	struct gmem_pv_mem m;	/* env_create_layout()'s memslot */
	bool has_m;
};

/*
 * A 2 MiB-aligned MAP_SHARED mapping of the whole file, so that the
 * generic fault path could map a 2 MiB folio with one PMD if guest_memfd
 * let it.
 */
static u8 *mmap_aligned(int fd, u64 size)
{
	u8 *area = kvm_mmap(size + SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	u8 *p = (u8 *)(((unsigned long)area + SZ_2M - 1) & ~(SZ_2M - 1ul));

	TEST_ASSERT(mmap(p, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fd, 0) == p, "mmap guest_memfd");
	return p;
}

static void env_vm(struct env *e, u64 size)
{
	memset(e, 0, sizeof(*e));
	e->size = size;
	e->vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &e->vcpu,
					      guest_code);
}

static void env_finish(struct env *e, bool prealloc)
{
	/* Allocate the backing first, before anything fragments memory. */
	if (prealloc)
		TEST_ASSERT(!fallocate(e->fd, FALLOC_FL_KEEP_SIZE, 0, e->size),
			    "fallocate");
	virt_map_level(e->vm, TEST_GPA, TEST_GPA, e->size, PG_LEVEL_2M);
	vm_enable_cap(e->vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, KVM_GMEM_PV_HC_ENABLE);
}

/*
 * The test memslot, at TEST_GPA, bound to a new guest_memfd.  With
 * GUEST_MEMFD_FLAG_MMAP the file is mapped 2 MiB-aligned at e->mem, and
 * the memslot's userspace_addr is e->mem + @hva_skew: a VMM that mmap()s
 * its guest_memfd anywhere passes an address only 4 KiB aligned.
 */
static void env_create_skewed(struct env *e, u64 size, u64 gmem_flags,
			      bool prealloc, u64 hva_skew)
{
	env_vm(e, size);
	e->fd = vm_create_guest_memfd(e->vm, size, gmem_flags);
	TEST_ASSERT(gmem_flags & GUEST_MEMFD_FLAG_MMAP, "gmem-only only");
	e->gmem_only = true;
	e->map_size = size + hva_skew;
	e->mem = mmap_aligned(e->fd, e->map_size);
	e->shared = e->mem;
	vm_set_user_memory_region2(e->vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   size, e->mem + hva_skew, e->fd, 0);
	env_finish(e, prealloc);
}

/*
 * The same in one of the memslot layouts (gmem_pv_mem_add()), 2 MiB
 * aligned: gmem-only maps the file at e->mem (MMAP is added), split has
 * its anonymous alias at e->shared and no e->mem.
 */
static void env_create_layout(struct env *e, u64 size, u64 gmem_flags,
			      bool prealloc, enum gmem_pv_layout layout)
{
	env_vm(e, size);
	gmem_pv_mem_add(e->vm, &e->m, TEST_SLOT, TEST_GPA, size, gmem_flags, layout);
	e->has_m = true;
	e->fd = e->m.fd;
	e->gmem_only = layout == GMEM_PV_LAYOUT_GMEM_ONLY;
	e->mem = e->m.gmem;
	e->shared = e->m.shared;
	env_finish(e, prealloc);
}

static void env_create(struct env *e, u64 size, u64 gmem_flags, bool prealloc)
{
	env_create_skewed(e, size, gmem_flags, prealloc, 0);
}

static void env_destroy(struct env *e)
{
	if (e->has_m) {
		gmem_pv_mem_free(&e->m);
	} else {
		munmap(e->mem, e->map_size);
		close(e->fd);
	}
	kvm_vm_free(e->vm);
}

/* Run one guest pass over @size bytes. */
static void guest_pass(struct env *e, u64 size, u64 hint, bool write)
{
	struct ucall uc;

	g_size = size;
	g_hint = hint;
	g_write = write;
	sync_global_to_guest(e->vm, g_size);
	sync_global_to_guest(e->vm, g_hint);
	sync_global_to_guest(e->vm, g_write);
	sync_global_to_guest(e->vm, g_special_gpa);
	sync_global_to_guest(e->vm, g_special_val);

	vcpu_run(e->vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(e->vcpu, KVM_EXIT_IO);
	switch (get_ucall(e->vcpu, &uc)) {
	case UCALL_SYNC:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
}

/* Fault in what the guest needs outside the test region, then measure. */
static void warm_up(struct env *e)
{
	guest_pass(e, 0, NO_HINT, false);
}

TEST(flags)
{
	u64 want = HUGE | HINTED;
	struct kvm_vm *vm;

	ASSERT_EQ(kvm_check_cap(KVM_CAP_GUEST_MEMFD_FLAGS) & want, want);

	vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_FLAGS) & want, want);
	close(vm_create_guest_memfd(vm, SZ_2M, HUGE | HINTED | GUEST_MEMFD_FLAG_MMAP));
	/* The default alone changes nothing: no 2 MiB folios. */
	close(vm_create_guest_memfd(vm, SZ_2M, HINTED));
	kvm_vm_free(vm);

	/* Not where guest_memfd owns no state: upstream 7.3 there. */
	vm = vm_create_barebones();
	ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_FLAGS) & want, 0);
	ASSERT_EQ(__vm_create_guest_memfd(vm, SZ_2M, GUEST_MEMFD_FLAG_MMAP | HUGE), -1);
	ASSERT_EQ(errno, EINVAL);
	kvm_vm_free(vm);
}

/*
 * Every case that faults runs in the three memslot layouts: gmem-only,
 * split with a 4 KiB alias, split with a THP alias (gmem_pv_util.h).  The
 * private mappings must not depend on the layout; a shared page of a split
 * memslot is the alias's, never the guest_memfd's.
 */
FIXTURE(layout) {
};

FIXTURE_VARIANT(layout) {
	enum gmem_pv_layout layout;
};

GMEM_PV_LAYOUT_VARIANTS(layout);

FIXTURE_SETUP(layout)
{
}

FIXTURE_TEARDOWN(layout)
{
}

/*
 * The guest touches a 64 MiB private region it hinted 2 MiB; KVM maps one
 * 2 MiB page per 2 MiB folio.  If the host was too fragmented for some
 * folios, they are counted as fallbacks and map at 4 KiB.
 */
#define BIG_SIZE	SZ_64M
#define BIG_NR_2M	(BIG_SIZE / SZ_2M + 0ul)

TEST_F(layout, hinted_64m_maps_2m)
{
	u64 pages_2m, huge, fallbacks, mapped;
	struct env e;

	env_create_layout(&e, BIG_SIZE, HUGE | HINTED, true, variant->layout);
	huge = vm_stat(e.vm, "gmem_pv_huge_folios");
	fallbacks = vm_stat(e.vm, "gmem_pv_huge_fallbacks");
	ASSERT_EQ(huge + fallbacks, BIG_NR_2M);

	warm_up(&e);
	pages_2m = vm_stat(e.vm, "pages_2m");
	guest_pass(&e, BIG_SIZE, PRIV | H2M, true);
	mapped = vm_stat(e.vm, "pages_2m") - pages_2m;

	ksft_print_msg("64 MiB hinted 2M: %lu/%lu at 2 MiB (%lu%%), %lu 2M folios, %lu fallbacks\n",
		       mapped, BIG_NR_2M, mapped * 100 / BIG_NR_2M, huge, fallbacks);
	/* Every 2 MiB folio is mapped at 2 MiB, nothing else is. */
	ASSERT_EQ(mapped, huge);
	ASSERT_GT(huge, 0);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hint_limited_faults"), 0);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_mixed_limited_faults"), 0);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hint_2m_pages"), BIG_SIZE / PAGE_SIZE);

	/* Contents are where the guest wrote them. */
	guest_pass(&e, BIG_SIZE, NO_HINT, false);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m") - pages_2m, huge);
	env_destroy(&e);
}

/*
 * Hints against the file's default, on a 4 MiB private region: returns how
 * many 2 MiB pages the guest's pass added.
 */
#define SMALL_SIZE	SZ_4M
#define SMALL_NR_2M	(SMALL_SIZE / SZ_2M + 0ul)

static u64 touch_with_hint(struct env *e, u64 gmem_flags, u64 hint,
			   enum gmem_pv_layout layout)
{
	u64 pages_2m;

	env_create_layout(e, SMALL_SIZE, gmem_flags, true, layout);
	warm_up(e);
	pages_2m = vm_stat(e->vm, "pages_2m");
	guest_pass(e, SMALL_SIZE, hint, true);
	return vm_stat(e->vm, "pages_2m") - pages_2m;
}

/* Two folios, or fallbacks: the number of 2 MiB pages that may be had. */
static u64 huge_folios(struct env *e)
{
	return vm_stat(e->vm, "gmem_pv_huge_folios");
}

TEST_F(layout, no_hint_default_2m)
{
	struct env e;

	ASSERT_EQ(touch_with_hint(&e, HUGE, NO_HINT, variant->layout), huge_folios(&e));
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hint_limited_faults"), 0);
	env_destroy(&e);
}

TEST_F(layout, no_hint_hinted_default_4k)
{
	struct env e;

	ASSERT_EQ(touch_with_hint(&e, HUGE | HINTED, NO_HINT, variant->layout), 0);
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M);
	ASSERT_GE(vm_stat(e.vm, "gmem_pv_hint_limited_faults"), SMALL_NR_2M);
	env_destroy(&e);
}

TEST_F(layout, hint_4k_maps_4k)
{
	struct env e;

	/* The guest's 4 KiB hint beats the file's 2 MiB default. */
	ASSERT_EQ(touch_with_hint(&e, HUGE, PRIV | H4K, variant->layout), 0);
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M);
	ASSERT_GE(vm_stat(e.vm, "gmem_pv_hint_limited_faults"), SMALL_NR_2M);
	ASSERT_GE(vm_stat(e.vm, "pages_4k"), SMALL_SIZE / PAGE_SIZE);
	env_destroy(&e);
}

TEST_F(layout, hint_1g_maps_2m)
{
	struct env e;

	ASSERT_EQ(touch_with_hint(&e, HUGE | HINTED, PRIV | H1G, variant->layout), SMALL_NR_2M);
	ASSERT_GE(vm_stat(e.vm, "gmem_pv_hint_1g_capped_faults"), SMALL_NR_2M);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hint_1g_pages"), SMALL_SIZE / PAGE_SIZE);
	env_destroy(&e);
}

/*
 * A gmem-only memslot (GUEST_MEMFD_FLAG_MMAP) whose userspace_addr is not
 * congruent to its guest address modulo 2 MiB still maps at 2 MiB: every
 * pfn and order come from guest_memfd, never from the host mapping.  The
 * reference VMM's plain mmap() of its guest_memfd is such a memslot.
 */
TEST(gmem_only_skewed_hva_maps_2m)
{
	u64 pages_2m, mapped;
	struct env e;

	env_create_skewed(&e, SMALL_SIZE, HUGE | HINTED | GUEST_MEMFD_FLAG_MMAP,
			  true, PAGE_SIZE);
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M);
	warm_up(&e);
	pages_2m = vm_stat(e.vm, "pages_2m");
	guest_pass(&e, SMALL_SIZE, PRIV | H2M, true);
	mapped = vm_stat(e.vm, "pages_2m") - pages_2m;
	ASSERT_EQ(mapped, SMALL_NR_2M);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hint_limited_faults"), 0);
	guest_pass(&e, SMALL_SIZE, NO_HINT, false);
	env_destroy(&e);
}

/*
 * A hint for memory the guest mapped before changes its level: the guest
 * touches a region unhinted (the _HINTED default, 4 KiB), then hints it
 * 2 MiB and reads it again, then hints it 4 KiB and reads it again.
 */
TEST_F(layout, late_hint_remaps)
{
	u64 pages_2m, hint_limited;
	struct env e;

	ASSERT_EQ(touch_with_hint(&e, HUGE | HINTED, NO_HINT, variant->layout), 0);
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M);
	pages_2m = vm_stat(e.vm, "pages_2m");

	guest_pass(&e, SMALL_SIZE, PRIV | H2M, false);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m") - pages_2m, SMALL_NR_2M);

	hint_limited = vm_stat(e.vm, "gmem_pv_hint_limited_faults");
	guest_pass(&e, SMALL_SIZE, PRIV | H4K, false);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), pages_2m);
	ASSERT_GE(vm_stat(e.vm, "gmem_pv_hint_limited_faults") - hint_limited,
		  SMALL_NR_2M);

	/* The same hint again changes nothing and zaps nothing. */
	hint_limited = vm_stat(e.vm, "gmem_pv_hint_limited_faults");
	guest_pass(&e, SMALL_SIZE, PRIV | H4K, false);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hint_limited_faults"), hint_limited);
	env_destroy(&e);
}

/* Without the flag: 4 KiB folios and mappings, whatever the hint. */
TEST_F(layout, no_flag_is_upstream)
{
	struct env e;

	ASSERT_EQ(touch_with_hint(&e, 0, PRIV | H2M, variant->layout), 0);
	ASSERT_EQ(huge_folios(&e), 0);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_huge_fallbacks"), 0);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_mixed_limited_faults"), 0);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hint_limited_faults"), 0);
	env_destroy(&e);
}

/*
 * One 4 KiB page of a 2 MiB-mapped range becomes shared and back: the
 * range maps at 4 KiB while mixed, at 2 MiB again once uniform.  gmem-only:
 * contents stay in place on both sides, and host userspace reaches the
 * shared pages only, through a 2 MiB-aligned mapping of the 2 MiB folio.
 * Split: the shared page the guest sees is the alias's, which never holds
 * the guest's private data, and the guest_memfd keeps the private page's
 * contents for when it is private again.
 */
#define P_OFF		(SZ_1M + 3 * PAGE_SIZE)
#define Q_OFF		(SZ_1M + 64 * PAGE_SIZE)
#define HOST_VAL	0x1234ull

/* Split: the alias holds only what host userspace wrote, here nothing. */
static void expect_alias_clean(struct __test_metadata *_metadata, struct env *e,
			       u64 off, u64 want)
{
	ASSERT_TRUE(host_can_read(e->shared + off));
	ASSERT_EQ(*(u64 *)(e->shared + off), want);
}

TEST_F(layout, convert_one_page_in_2m)
{
	u64 base, *p, *q;
	struct env e;

	env_create_layout(&e, SMALL_SIZE, HUGE, true, variant->layout);
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M);
	p = (u64 *)(e.shared + P_OFF);
	q = (u64 *)(e.shared + Q_OFF);

	warm_up(&e);
	base = vm_stat(e.vm, "pages_2m");
	guest_pass(&e, SMALL_SIZE, NO_HINT, true);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 2);
	if (e.gmem_only)
		TEST_ASSERT(!host_can_read((u8 *)p), "private page readable");
	else
		expect_alias_clean(_metadata, &e, P_OFF, 0);

	/* Private -> shared in place: the first 2 MiB range is mixed now. */
	ASSERT_EQ(set_attributes2(e.fd, P_OFF, PAGE_SIZE, 0, 0), 0);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 1);
	ASSERT_TRUE(host_can_read((u8 *)p));
	if (e.gmem_only) {
		ASSERT_EQ(*p, pattern(TEST_GPA + P_OFF));
		/* Only that page: not its neighbours, not by PMD, not by PTE batch. */
		ASSERT_FALSE(host_can_read((u8 *)p - PAGE_SIZE));
		ASSERT_FALSE(host_can_read((u8 *)p + PAGE_SIZE));
		ASSERT_FALSE(host_can_read(e.mem));
		ASSERT_FALSE(host_can_read(e.mem + SZ_2M - PAGE_SIZE));
	} else {
		expect_alias_clean(_metadata, &e, P_OFF, 0);
		expect_alias_clean(_metadata, &e, P_OFF - PAGE_SIZE, 0);
		expect_alias_clean(_metadata, &e, 0, 0);
	}
	*p = HOST_VAL;

	/* The guest sees the host's write and its own private data. */
	g_special_gpa = TEST_GPA + P_OFF;
	g_special_val = HOST_VAL;
	guest_pass(&e, SMALL_SIZE, NO_HINT, false);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 1);
	ASSERT_GE(vm_stat(e.vm, "pages_4k"), SZ_2M / PAGE_SIZE);
	ASSERT_GT(vm_stat(e.vm, "gmem_pv_mixed_limited_faults"), 0);

	/*
	 * A second shared page of the folio stays mapped by the host while
	 * the first goes back to private: the conversion must not take that
	 * mapping for a reference to the page it converts.
	 */
	ASSERT_EQ(set_attributes2(e.fd, Q_OFF, PAGE_SIZE, 0, 0), 0);
	ASSERT_EQ(*q, e.gmem_only ? pattern(TEST_GPA + Q_OFF) : 0);
	ASSERT_EQ(set_attributes2(e.fd, P_OFF, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), 0);
	if (e.gmem_only)
		TEST_ASSERT(!host_can_read((u8 *)p), "private page readable");
	else
		expect_alias_clean(_metadata, &e, P_OFF, HOST_VAL);
	ASSERT_TRUE(host_can_read((u8 *)q));
	ASSERT_EQ(set_attributes2(e.fd, Q_OFF, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), 0);
	if (e.gmem_only)
		TEST_ASSERT(!host_can_read((u8 *)q), "private page readable");

	/*
	 * Uniform again: the next faults map the range at 2 MiB.  Split: the
	 * guest_memfd kept what the guest wrote, not the host's alias write.
	 */
	if (!e.gmem_only)
		g_special_gpa = 0;
	guest_pass(&e, SMALL_SIZE, NO_HINT, false);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 2);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_conversions_refused"), 0);
	env_destroy(&e);
}

/*
 * The same, with the guest converting by hypercall and hinting.  Split:
 * the host writes the alias first, and the shared page shows the guest
 * that, then its private data again once private.
 */
#define ALIAS_VAL	0xa11a5ull

TEST_F(layout, guest_converts_one_page)
{
	struct env e;
	u64 base;

	env_create_layout(&e, SMALL_SIZE, HUGE | HINTED, true, variant->layout);
	warm_up(&e);
	base = vm_stat(e.vm, "pages_2m");
	guest_pass(&e, SMALL_SIZE, PRIV | H2M, true);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 2);

	/* The first page shared, hinted 4K; the pass checks just it. */
	if (!e.gmem_only) {
		*(u64 *)e.shared = ALIAS_VAL;
		g_special_gpa = TEST_GPA;
		g_special_val = ALIAS_VAL;
	}
	guest_pass(&e, PAGE_SIZE, H4K, false);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 1);
	ASSERT_TRUE(host_can_read(e.shared));
	if (e.gmem_only) {
		ASSERT_EQ(*(u64 *)e.mem, pattern(TEST_GPA));
		ASSERT_FALSE(host_can_read(e.mem + PAGE_SIZE));
	} else {
		expect_alias_clean(_metadata, &e, 0, ALIAS_VAL);
		expect_alias_clean(_metadata, &e, PAGE_SIZE, 0);
	}

	/* Back to private with a 2M hint: the whole region maps at 2 MiB. */
	g_special_gpa = 0;
	guest_pass(&e, SMALL_SIZE, PRIV | H2M, false);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 2);
	if (e.gmem_only)
		TEST_ASSERT(!host_can_read(e.mem), "private page readable");
	env_destroy(&e);
}

/*
 * Two vCPUs: one flips a 4 KiB page of a 2 MiB range between shared and
 * private by hypercall, the other writes every page of the range all the
 * while, so KVM's 2 MiB and 4 KiB mappings of the range are torn down and
 * rebuilt under its faults.  Each vCPU counts its rounds in its own byte
 * of every page (one incb instruction each, so that a count lands whole in
 * one backing): none may be lost.  vCPU 0 then reads every count through
 * KVM, the range private; in a split memslot the flipped page's counts
 * are shared between the alias and the guest_memfd and add up.
 */
#define RACE_ROUNDS	50
#define RACE_PAGES	(SZ_2M / PAGE_SIZE)
#define FLIP_GPA	(TEST_GPA + SZ_1M)

/* What the flipped page's guest_memfd copy must hold, per vCPU byte. */
static u64 g_flip_want[2];

static void guest_race(u64 id)
{
	u8 *mem = (u8 *)TEST_GPA;
	u64 round, i, b;

	for (round = 0; round < RACE_ROUNDS; round++) {
		if (id == 0)
			GUEST_ASSERT_EQ(kvm_hypercall(KVM_HC_MAP_GPA_RANGE, FLIP_GPA, 1,
						      (round & 1) ? PRIV | H2M : H4K,
						      0), 0);
		for (i = 0; i < RACE_PAGES; i++)
			asm volatile("incb %0" : "+m"(mem[i * PAGE_SIZE + id]));
	}
	if (id)
		GUEST_DONE();
	GUEST_SYNC(1);

	for (i = 0; i < RACE_PAGES; i++) {
		for (b = 0; b < 2; b++) {
			u64 gpa = TEST_GPA + i * PAGE_SIZE;
			u64 want = gpa == FLIP_GPA ? g_flip_want[b] : RACE_ROUNDS;

			__GUEST_ASSERT(mem[i * PAGE_SIZE + b] == want,
				       "gpa 0x%lx vCPU %lu: %u rounds, expected %lu",
				       gpa, b, mem[i * PAGE_SIZE + b], want);
		}
	}
	GUEST_DONE();
}

static void *race_vcpu(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	case UCALL_SYNC:
		TEST_ASSERT_EQ(vcpu->id, 0);
		break;
	case UCALL_DONE:
		TEST_ASSERT_EQ(vcpu->id, 1);
		break;
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	return NULL;
}

TEST_F(layout, two_vcpus_flip_in_2m)
{
	struct kvm_vcpu *vcpu[2];
	struct gmem_pv_mem m;
	struct kvm_vm *vm;
	struct ucall uc;
	pthread_t t[2];
	u64 i, b, base;
	u8 *mem;

	vm = __vm_create_with_vcpus(gmem_pv_protected_shape, 2, 0, guest_race, vcpu);
	gmem_pv_mem_add(vm, &m, TEST_SLOT, TEST_GPA, SZ_2M, HUGE, variant->layout);
	ASSERT_EQ(fallocate(m.fd, FALLOC_FL_KEEP_SIZE, 0, SZ_2M), 0);
	virt_map_level(vm, TEST_GPA, TEST_GPA, SZ_2M, PG_LEVEL_2M);
	vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, KVM_GMEM_PV_HC_ENABLE);
	mem = m.shared;
	ASSERT_EQ(vm_stat(vm, "gmem_pv_huge_folios"), 1);

	vcpu_args_set(vcpu[0], 1, 0);
	vcpu_args_set(vcpu[1], 1, 1);
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, race_vcpu, vcpu[i]);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);

	ksft_print_msg("%d flips: %lu faults limited by the mixed state, %lu refusals retried\n",
		       RACE_ROUNDS, vm_stat(vm, "gmem_pv_mixed_limited_faults"),
		       vm_stat(vm, "gmem_pv_conversions_refused"));
	/* The last flip made the range private again: uniform. */
	ASSERT_EQ(vm_stat(vm, "gmem_pv_hc_errors"), 0);
	ASSERT_GT(vm_stat(vm, "gmem_pv_mixed_limited_faults"), 0);

	/* The counts the flipped page took while shared are in the alias. */
	for (b = 0; b < 2; b++) {
		u8 in_alias = m.gmem ? 0 : mem[FLIP_GPA - TEST_GPA + b];

		ASSERT_LE(in_alias, RACE_ROUNDS);
		g_flip_want[b] = RACE_ROUNDS - in_alias;
	}
	ksft_print_msg("flipped page: %lu/%lu of the counts in the alias\n",
		       RACE_ROUNDS - g_flip_want[0], RACE_ROUNDS - g_flip_want[1]);
	sync_global_to_guest(vm, g_flip_want);
	vcpu_run(vcpu[0]);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu[0], KVM_EXIT_IO);
	if (get_ucall(vcpu[0], &uc) == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
	ASSERT_EQ(uc.cmd, UCALL_DONE);

	/* All shared: the 2 MiB mapping goes; gmem-only shows the counts. */
	base = vm_stat(vm, "pages_2m");
	ASSERT_EQ(set_attributes2(m.fd, 0, SZ_2M, 0, 0), 0);
	ASSERT_EQ(vm_stat(vm, "pages_2m"), base - 1);
	for (i = 0; i < RACE_PAGES && m.gmem; i++) {
		ASSERT_EQ(mem[i * PAGE_SIZE], RACE_ROUNDS);
		ASSERT_EQ(mem[i * PAGE_SIZE + 1], RACE_ROUNDS);
	}
	gmem_pv_mem_free(&m);
	kvm_vm_free(vm);
}

/* Residency of @n pages at @p, by mincore(). */
static int resident(u8 *p, int n)
{
	unsigned char vec[512];
	int i, r = 0;

	TEST_ASSERT(n <= 512 && !mincore(p, n * PAGE_SIZE, vec), "mincore");
	for (i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

/* A /proc/meminfo field, in kB. */
static long meminfo_kb(const char *field)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	TEST_ASSERT(f, "/proc/meminfo");
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, strlen(field)) && line[strlen(field)] == ':') {
			kb = strtol(line + strlen(field) + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	TEST_ASSERT(kb >= 0, "no %s in /proc/meminfo", field);
	return kb;
}

/*
 * Punch holes in 2 MiB folios: part of the first folio reads as zeroes
 * afterwards, the rest keeps its data; the whole second folio is freed
 * and comes back as a new 2 MiB folio.
 */
TEST(punch_hole)
{
	u64 flags = HUGE | GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	long thp_kb = meminfo_kb("FileHugePages");
	int left;
	u64 i, off;
	struct env e;

	env_create(&e, SMALL_SIZE, flags, true);
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M);
	/* The page cache accounts them as file THPs. */
	ASSERT_EQ(meminfo_kb("FileHugePages") - thp_kb, SMALL_SIZE >> 10);
	for (off = 0; off < SMALL_SIZE; off += sizeof(u64))
		*(u64 *)(e.mem + off) = pattern(off);
	ASSERT_EQ(resident(e.mem + SZ_2M, 512), 512);

	ASSERT_EQ(fallocate(e.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			    2 * PAGE_SIZE, PAGE_SIZE), 0);
	ASSERT_EQ(fallocate(e.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			    SZ_1M, SZ_64K), 0);
	ASSERT_EQ(fallocate(e.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			    SZ_2M, SZ_2M), 0);

	/* The whole folio is gone; the partly punched one is split or zeroed. */
	ASSERT_EQ(resident(e.mem + SZ_2M, 512), 0);
	left = resident(e.mem + 2 * PAGE_SIZE, 1) + resident(e.mem + SZ_1M, 16);
	ksft_print_msg("partial punch: %d of 17 punched pages still resident (zeroed)\n",
		       left);
	/*
	 * Split and freed (no file THP left), or not split at all (one left,
	 * and the punched pages still resident); either way the whole one is
	 * no longer accounted.
	 */
	ASSERT_EQ(meminfo_kb("FileHugePages") - thp_kb, left ? SZ_2M >> 10 : 0);
	ASSERT_TRUE(left == 0 || left == 17);
	ASSERT_EQ(resident(e.mem, 2), 2);
	ASSERT_EQ(resident(e.mem + SZ_1M + SZ_64K, 16), 16);

	for (off = 0; off < SMALL_SIZE; off += sizeof(u64)) {
		bool punched = (off >= 2 * PAGE_SIZE && off < 3 * PAGE_SIZE) ||
			       (off >= SZ_1M && off < SZ_1M + SZ_64K) ||
			       off >= SZ_2M;
		u64 v = *(u64 *)(e.mem + off);

		ASSERT_EQ(v, punched ? 0 : pattern(off));
	}

	/* Faulting the freed range in again gives it a new 2 MiB folio. */
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M + 1);

	/* And the guest sees the same through KVM. */
	for (i = 0; i < SMALL_SIZE; i += PAGE_SIZE)
		*(u64 *)(e.mem + i) = pattern(TEST_GPA + i);
	guest_pass(&e, SMALL_SIZE, NO_HINT, false);
	env_destroy(&e);
}

/*
 * Memory failure on one page of a 2 MiB folio mapped at 2 MiB by KVM: the
 * page cache splits the folio, guest_memfd zaps KVM's mapping of the
 * range, the host gets SIGBUS on that page only and the guest a memory
 * fault exit on it; everything else keeps its data.
 */
#define POISON_OFF	(SZ_1M + 5 * PAGE_SIZE)

TEST(memory_failure)
{
	u64 flags = HUGE | GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	struct env e;
	u64 i, base;
	int r;

	env_create(&e, SMALL_SIZE, flags, true);
	ASSERT_EQ(huge_folios(&e), SMALL_NR_2M);
	for (i = 0; i < SMALL_SIZE; i += PAGE_SIZE)
		*(u64 *)(e.mem + i) = pattern(TEST_GPA + i);
	warm_up(&e);
	base = vm_stat(e.vm, "pages_2m");
	guest_pass(&e, SMALL_SIZE, NO_HINT, false);
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 2);

	/*
	 * Linux 7.3's memory-failure code takes guest_memfd's MF_DELAYED
	 * (leave it to userspace and KVM) for a failed recovery, for 4 KiB
	 * folios as well: EBUSY.  The page is poisoned all the same.
	 */
	r = madvise(e.mem + POISON_OFF, PAGE_SIZE, MADV_HWPOISON);
	ASSERT_TRUE(!r || errno == EBUSY);
	/* KVM's 2 MiB mapping over the page is gone. */
	ASSERT_EQ(vm_stat(e.vm, "pages_2m"), base + 1);
	ASSERT_FALSE(host_can_read(e.mem + POISON_OFF));
	for (i = 0; i < SMALL_SIZE; i += PAGE_SIZE) {
		if (i != POISON_OFF)
			ASSERT_EQ(*(u64 *)(e.mem + i), pattern(TEST_GPA + i));
	}

	/* The guest reads up to the poisoned page, and faults on it. */
	g_size = SMALL_SIZE;
	g_hint = NO_HINT;
	g_write = false;
	sync_global_to_guest(e.vm, g_size);
	sync_global_to_guest(e.vm, g_hint);
	sync_global_to_guest(e.vm, g_write);
	r = __vcpu_run(e.vcpu);
	ASSERT_EQ(r, -1);
	ASSERT_EQ(errno, EHWPOISON);
	ASSERT_EQ(e.vcpu->run->exit_reason, KVM_EXIT_MEMORY_FAULT);
	ASSERT_EQ(e.vcpu->run->memory_fault.gpa, TEST_GPA + POISON_OFF);
	env_destroy(&e);
}

TEST_HARNESS_MAIN
