/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv guest: internal interfaces shared by the driver's files and its x86
 * platform code (arch/x86/coco/gmem_pv/).
 */
#ifndef __GMEM_PV_H
#define __GMEM_PV_H

#include <linux/atomic.h>
#include <linux/init.h>
#include <linux/sizes.h>
#include <linux/spinlock_types.h>
#include <linux/types.h>
#include <asm/page.h>

/* The host converts in all-or-nothing steps of 16 MiB, in order. */
#define GMEM_PV_STEP_PAGES	(SZ_16M >> PAGE_SHIFT)

/**
 * struct gmem_pv_chunk - one conversion hypercall's worth of a range
 * @gpa:	guest physical address of the first page, page aligned
 * @npages:	number of 4 KiB pages
 * @hint:	mapping-size hint for the whole chunk, one of
 *		KVM_MAP_GPA_RANGE_PAGE_SZ_{4K,2M,1G}
 */
struct gmem_pv_chunk {
	u64 gpa;
	u64 npages;
	unsigned int hint;
};

unsigned int gmem_pv_hint_for(u64 gpa, u64 size, unsigned int max_hint);
int gmem_pv_next_chunk(u64 gpa, u64 end, unsigned int max_hint,
		       struct gmem_pv_chunk *chunk);

/**
 * typedef gmem_pv_pfn_fn - look up the page frame of a range's @idx'th page
 * @ctx:	caller's context, e.g. the range's first virtual address
 * @idx:	index of the page within the range
 */
typedef u64 (*gmem_pv_pfn_fn)(void *ctx, unsigned long idx);

unsigned long gmem_pv_contig_run(gmem_pv_pfn_fn pfn_of, void *ctx,
				 unsigned long idx, unsigned long nr);

int gmem_pv_hc_errno(long ret);
int gmem_pv_share_keep(void *addr, unsigned long npages);

/* The platform code (arch/x86/coco/gmem_pv/) gives the driver these. */
long gmem_pv_map_gpa_range(u64 gpa, u64 npages, u64 attrs);
void gmem_pv_arch_wait_us(unsigned long us);

/* The generic driver (gmem_pv_core.c) gives the platform code these. */
bool __init gmem_pv_activate(bool offered, bool encrypted);
void __init gmem_pv_note_hinted(u64 start, u64 end);
int gmem_pv_convert_chunk(const struct gmem_pv_chunk *chunk, bool private,
			  bool hint_only, u64 *done);
int gmem_pv_convert_phys(phys_addr_t pa, u64 npages, bool private,
			 bool hint_only);
int gmem_pv_share_each(gmem_pv_pfn_fn pfn_of, void *ctx,
		       unsigned long npages, u64 *last_pfn);

/**
 * struct gmem_pv_stats - what the driver did, for debugfs
 * @hypercalls:		KVM_HC_MAP_GPA_RANGE calls made (a retry is a call)
 * @pages_shared:	pages converted private to shared
 * @pages_unshared:	pages converted shared to private
 * @failures:		requests that ended in an error
 * @retries:		waits before asking again after EAGAIN or ENOMEM
 * @hints:		hint-only requests (gmem_pv_hint_private())
 * @hint_pages:		pages covered by hint-only requests
 */
struct gmem_pv_stats {
	atomic64_t hypercalls;
	atomic64_t pages_shared;
	atomic64_t pages_unshared;
	atomic64_t failures;
	atomic64_t retries;
	atomic64_t hints;
	atomic64_t hint_pages;
};

extern struct gmem_pv_stats gmem_pv_stats;

/**
 * struct gmem_pv_extent - a range of guest physical addresses
 * @start:	first byte, page aligned
 * @end:	end (exclusive), page aligned
 */
struct gmem_pv_extent {
	u64 start;
	u64 end;
};

/**
 * struct gmem_pv_extents - sorted, disjoint, merged ranges (gmem_pv_shared.c)
 * @r:		the ranges, by start
 * @nr:		ranges in use
 * @max:	size of @r
 * @reserved:	entries reserved by conversions in flight
 */
struct gmem_pv_extents {
	struct gmem_pv_extent *r;
	unsigned int nr;
	unsigned int max;
	unsigned int reserved;
};

int gmem_pv_extents_update(struct gmem_pv_extents *s, u64 start, u64 end,
			   bool shared);
int gmem_pv_extents_reserve(struct gmem_pv_extents *s);
void gmem_pv_extents_unreserve(struct gmem_pv_extents *s);
u64 gmem_pv_extents_pages(const struct gmem_pv_extents *s);

int gmem_pv_shared_reserve(void);
void gmem_pv_shared_record(u64 gpa, u64 npages, bool shared, bool *reserved);
void gmem_pv_shared_release(bool *reserved);
u64 gmem_pv_shared_pages(void);
unsigned int gmem_pv_shared_copy(struct gmem_pv_extent *buf, unsigned int max);

/**
 * enum gmem_pv_mode - what gmem_pv= on the command line asks for
 * @GMEM_PV_ON:		use protected memory if the host offers it
 * @GMEM_PV_OFF:	do not, even if offered
 * @GMEM_PV_REQUIRE:	use it, and panic if it is not offered
 */
enum gmem_pv_mode {
	GMEM_PV_ON,
	GMEM_PV_OFF,
	GMEM_PV_REQUIRE,
};

#if IS_ENABLED(CONFIG_KUNIT)
/* Visible to the KUnit tests only (VISIBLE_IF_KUNIT, EXPORT_SYMBOL_IF_KUNIT). */
extern struct gmem_pv_extents gmem_pv_shared;
extern raw_spinlock_t gmem_pv_shared_lock;
void gmem_pv_retry_wait(unsigned int tries);
bool gmem_pv_decide(bool offered, enum gmem_pv_mode mode, bool encrypted,
		    const char **why_off);
#endif

#endif /* __GMEM_PV_H */
