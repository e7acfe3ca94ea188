/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv guest: internal interfaces shared by the driver's files.
 */
#ifndef __GMEM_PV_H
#define __GMEM_PV_H

#include <linux/types.h>

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

#endif /* __GMEM_PV_H */
