// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv guest: carving address ranges into conversion hypercalls.
 *
 * A KVM_HC_MAP_GPA_RANGE call converts one physically contiguous range and
 * carries one mapping-size hint for all of it.  The host can map a range at
 * 2 MiB (or 1 GiB) only where the range covers whole, aligned 2 MiB (1 GiB)
 * regions, so a hint that is larger than the range's alignment allows would
 * be a lie the host has to ignore.  To give the host the best hint for every
 * part of a range in as few calls as possible, a range is split into at most
 * five chunks: an unaligned 4 KiB head, a 2 MiB-aligned head, a 1 GiB-aligned
 * body, and the 2 MiB and 4 KiB tails.
 *
 * Everything here is pure arithmetic so that KUnit can check it exhaustively;
 * the hypercalls themselves are issued elsewhere.
 */

#include <linux/align.h>
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/minmax.h>
#include <linux/sizes.h>
#include <kunit/visibility.h>
#include <linux/kvm_gmem_pv_para.h>

#include "gmem_pv.h"

#define GMEM_PV_4K	SZ_4K
#define GMEM_PV_2M	SZ_2M
#define GMEM_PV_1G	SZ_1G

static u64 hint_bytes(unsigned int hint)
{
	switch (hint) {
	case KVM_MAP_GPA_RANGE_PAGE_SZ_1G:
		return GMEM_PV_1G;
	case KVM_MAP_GPA_RANGE_PAGE_SZ_2M:
		return GMEM_PV_2M;
	default:
		return GMEM_PV_4K;
	}
}

/**
 * gmem_pv_hint_for() - largest mapping-size hint a range's alignment allows
 * @gpa:	start of the range
 * @size:	size of the range in bytes
 * @max_hint:	largest hint the caller wants, KVM_MAP_GPA_RANGE_PAGE_SZ_*
 *
 * A hint of 2 MiB (1 GiB) is allowed only when @gpa and @size are both
 * multiples of 2 MiB (1 GiB): then every page of the range belongs to a
 * region the host can map whole.
 *
 * Return: KVM_MAP_GPA_RANGE_PAGE_SZ_1G, _2M or _4K.
 */
unsigned int gmem_pv_hint_for(u64 gpa, u64 size, unsigned int max_hint)
{
	if (max_hint >= KVM_MAP_GPA_RANGE_PAGE_SZ_1G &&
	    size && IS_ALIGNED(gpa | size, GMEM_PV_1G))
		return KVM_MAP_GPA_RANGE_PAGE_SZ_1G;
	if (max_hint >= KVM_MAP_GPA_RANGE_PAGE_SZ_2M &&
	    size && IS_ALIGNED(gpa | size, GMEM_PV_2M))
		return KVM_MAP_GPA_RANGE_PAGE_SZ_2M;
	return KVM_MAP_GPA_RANGE_PAGE_SZ_4K;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_hint_for);

/**
 * gmem_pv_next_chunk() - carve the next hypercall off the front of a range
 * @gpa:	start of what is left of the range, 4 KiB aligned
 * @end:	end of the range (exclusive), 4 KiB aligned
 * @max_hint:	largest hint to use, KVM_MAP_GPA_RANGE_PAGE_SZ_*
 * @chunk:	filled with the chunk starting at @gpa
 *
 * The chunk is the longest prefix of [@gpa, @end) that can carry the largest
 * hint @gpa's alignment allows, stopping where a larger hint becomes possible,
 * so that calling this until @end is reached yields the fewest calls in which
 * every page is covered by the best hint for it.
 *
 * Return: 0, or -EINVAL if the range is empty, unaligned or wraps.
 */
int gmem_pv_next_chunk(u64 gpa, u64 end, unsigned int max_hint,
		       struct gmem_pv_chunk *chunk)
{
	unsigned int hint;
	u64 len, next;

	if (!IS_ALIGNED(gpa | end, GMEM_PV_4K) || end <= gpa)
		return -EINVAL;

	len = end - gpa;
	for (hint = min(max_hint, KVM_MAP_GPA_RANGE_PAGE_SZ_1G); hint; hint >>= 1) {
		if (IS_ALIGNED(gpa, hint_bytes(hint)) && len >= hint_bytes(hint))
			break;
	}

	/*
	 * Whole units of this size, stopping at the next larger boundary only
	 * if a whole unit of the larger size fits between it and @end: a stop
	 * that no larger hint follows would just cost one more call.
	 */
	next = ALIGN_DOWN(end, hint_bytes(hint));
	if (hint < min(max_hint, KVM_MAP_GPA_RANGE_PAGE_SZ_1G)) {
		u64 up = hint_bytes(hint == KVM_MAP_GPA_RANGE_PAGE_SZ_4K ?
				    KVM_MAP_GPA_RANGE_PAGE_SZ_2M :
				    KVM_MAP_GPA_RANGE_PAGE_SZ_1G);
		u64 boundary;

		/* ALIGN(gpa + 1, up) would overflow only at the top of u64. */
		if (gpa < ALIGN_DOWN(U64_MAX, up)) {
			boundary = ALIGN(gpa + 1, up);
			if (boundary < end && end - boundary >= up)
				next = min(next, boundary);
		}
	}

	chunk->gpa = gpa;
	chunk->npages = (next - gpa) / GMEM_PV_4K;
	chunk->hint = hint;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_next_chunk);

/**
 * gmem_pv_contig_run() - length of a physically contiguous run of pages
 * @pfn_of:	returns the page frame of the range's idx'th page
 * @ctx:	passed to @pfn_of
 * @idx:	first page of the run
 * @nr:		number of pages in the range
 *
 * A virtually contiguous range (vmalloc, or a caller's array of pages) may
 * be physically scattered; each physically contiguous run becomes one
 * conversion request.
 *
 * Return: the number of pages from @idx on whose frames follow each other,
 * at least 1 when @idx < @nr, 0 otherwise.
 */
unsigned long gmem_pv_contig_run(gmem_pv_pfn_fn pfn_of, void *ctx,
				 unsigned long idx, unsigned long nr)
{
	unsigned long i;
	u64 first;

	if (idx >= nr)
		return 0;

	first = pfn_of(ctx, idx);
	for (i = idx + 1; i < nr; i++) {
		if (pfn_of(ctx, i) != first + (i - idx))
			break;
	}
	return i - idx;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_contig_run);

/**
 * gmem_pv_hc_errno() - the kernel error code for a hypercall's return value
 * @ret:	RAX as KVM_HC_MAP_GPA_RANGE returned it
 *
 * Return: 0 for success; -EPERM, -EINVAL, -EFAULT, -EAGAIN or -ENOMEM for
 * the codes the host documents; -EOPNOTSUPP for KVM_ENOSYS (the host does
 * not service the hypercall); -EIO for anything else, which a host that
 * keeps to the ABI never returns.
 */
int gmem_pv_hc_errno(long ret)
{
	switch (ret) {
	case 0:
		return 0;
	case -KVM_EPERM:
		return -EPERM;
	case -KVM_EINVAL:
		return -EINVAL;
	case -KVM_EFAULT:
		return -EFAULT;
	case -KVM_GMEM_PV_EAGAIN:
		return -EAGAIN;
	case -KVM_GMEM_PV_ENOMEM:
		return -ENOMEM;
	case -KVM_ENOSYS:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_hc_errno);
