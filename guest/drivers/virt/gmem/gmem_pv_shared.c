// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv guest: the set of GPA ranges the host confirmed shared.
 *
 * The guest keeps what it shared as a sorted list of disjoint, merged
 * ranges of guest physical addresses, changed only by conversions the host
 * confirmed (RAX 0 for the range or step): a share adds its range, merging
 * with the ranges it touches; a conversion back to private removes its
 * range, trimming or splitting the ranges it overlaps.  The number of
 * shared pages is derived from it, so it counts state, not requests; and
 * a test can compare it range for range with the host's guest_memfd.
 *
 * The list is a fixed array: conversions run in early boot, before any
 * allocator, and from wherever the kernel calls set_memory_decrypted().
 * Each conversion reserves the one entry it may need (a share of a range
 * that touches no other adds one, a conversion to private in the middle
 * of one splits it) before it asks the host, so a conversion the host
 * confirmed can always be recorded; when the list is full, the conversion
 * is refused before the hypercall.
 *
 * gmem_pv_extents_*() are pure arithmetic on a list the caller owns, for
 * KUnit; gmem_pv_shared_*() are the driver's list under its lock.
 */

#include <linux/errno.h>
#include <linux/export.h>
#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <kunit/visibility.h>

#include "gmem_pv.h"

/* Index of the first range that ends at or after @start. */
static unsigned int extents_first_from(const struct gmem_pv_extents *s,
				       u64 start)
{
	unsigned int lo = 0, hi = s->nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (s->r[mid].end < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void extents_replace(struct gmem_pv_extents *s, unsigned int i,
			    unsigned int nr_old, unsigned int nr_new)
{
	memmove(&s->r[i + nr_new], &s->r[i + nr_old],
		(s->nr - i - nr_old) * sizeof(s->r[0]));
	s->nr = s->nr - nr_old + nr_new;
}

/* [@start, @end) is shared: merge it with every range it touches. */
static int extents_add(struct gmem_pv_extents *s, u64 start, u64 end)
{
	unsigned int i = extents_first_from(s, start), j = i;

	while (j < s->nr && s->r[j].start <= end)
		j++;
	if (j == i) {
		if (s->nr == s->max)
			return -ENOSPC;
		extents_replace(s, i, 0, 1);
		s->r[i].start = start;
		s->r[i].end = end;
		return 1;
	}
	start = min(start, s->r[i].start);
	end = max(end, s->r[j - 1].end);
	extents_replace(s, i, j - i, 1);
	s->r[i].start = start;
	s->r[i].end = end;
	return 0;
}

/* [@start, @end) is private: trim, split or drop what it overlaps. */
static int extents_remove(struct gmem_pv_extents *s, u64 start, u64 end)
{
	unsigned int i = extents_first_from(s, start + 1), j = i;
	u64 head_start, tail_end;
	bool head, tail;

	while (j < s->nr && s->r[j].start < end)
		j++;
	if (j == i)
		return 0;

	head_start = s->r[i].start;
	tail_end = s->r[j - 1].end;
	head = head_start < start;
	tail = tail_end > end;
	if (head + tail > j - i) {
		if (s->nr == s->max)
			return -ENOSPC;
		extents_replace(s, i, 1, 2);
		s->r[i].end = start;
		s->r[i + 1].start = end;
		s->r[i + 1].end = tail_end;
		return 1;
	}
	extents_replace(s, i, j - i, head + tail);
	if (head) {
		s->r[i].start = head_start;
		s->r[i].end = start;
		i++;
	}
	if (tail) {
		s->r[i].start = end;
		s->r[i].end = tail_end;
	}
	return 0;
}

/**
 * gmem_pv_extents_update() - record that a range changed state
 * @s:		the list
 * @start:	first byte of the range, page aligned
 * @end:	end of the range (exclusive), page aligned, above @start
 * @shared:	the range is now shared (else private)
 *
 * The list stays sorted, its ranges disjoint and merged: no two touch.
 *
 * Return: 1 if the list grew by one range, 0 if not, -EINVAL for an empty
 * or unaligned range, -ENOSPC if it would have to grow and is full (then
 * it is unchanged).
 */
int gmem_pv_extents_update(struct gmem_pv_extents *s, u64 start, u64 end,
			   bool shared)
{
	if (end <= start || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end))
		return -EINVAL;
	return shared ? extents_add(s, start, end) :
			extents_remove(s, start, end);
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_extents_update);

/**
 * gmem_pv_extents_reserve() - reserve the range one conversion may add
 * @s:		the list
 *
 * A conversion grows the list by at most one range, however many of its
 * steps the host confirms (they are contiguous from its start), so one
 * reservation before its first hypercall means that what the host
 * confirms can be recorded.  Reservations plus ranges never exceed @s->max.
 *
 * Return: 0, or -ENOSPC when every entry is used or reserved.
 */
int gmem_pv_extents_reserve(struct gmem_pv_extents *s)
{
	if (s->nr + s->reserved >= s->max)
		return -ENOSPC;
	s->reserved++;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_extents_reserve);

/**
 * gmem_pv_extents_unreserve() - give back a reservation
 * @s:		the list
 *
 * Called once per reservation: when the conversion's update grew the
 * list (the entry is now used) or when the conversion ends without that.
 */
void gmem_pv_extents_unreserve(struct gmem_pv_extents *s)
{
	if (s->reserved)
		s->reserved--;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_extents_unreserve);

/**
 * gmem_pv_extents_pages() - the number of 4 KiB pages in the list
 * @s:		the list
 *
 * Return: the sum of the ranges' sizes, in pages.
 */
u64 gmem_pv_extents_pages(const struct gmem_pv_extents *s)
{
	u64 pages = 0;
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		pages += (s->r[i].end - s->r[i].start) >> PAGE_SHIFT;
	return pages;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_extents_pages);

/*
 * The driver's list.  set_memory_decrypted()/encrypted() may sleep
 * (vm_unmap_aliases()), so its callers are in process context: dma-direct,
 * the atomic pools' worker, swiotlb's pool growth and its RCU work,
 * kvmclock and ptp_kvm at init.  The driver's own early conversions run
 * before that, with interrupts off and one CPU (the boot hint,
 * .bss..decrypted, the per-CPU pages KVM writes, also as each CPU comes
 * up).  A raw spinlock taken with interrupts off is right in all of them
 * and in any context a future caller may add; it is held only to change
 * or copy the array, never across a hypercall.
 */
#define GMEM_PV_MAX_SHARED	2048

static struct gmem_pv_extent gmem_pv_shared_buf[GMEM_PV_MAX_SHARED];
struct gmem_pv_extents gmem_pv_shared = {
	.r = gmem_pv_shared_buf,
	.max = GMEM_PV_MAX_SHARED,
};
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_shared);
DEFINE_RAW_SPINLOCK(gmem_pv_shared_lock);
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_shared_lock);

/**
 * gmem_pv_shared_reserve() - reserve room for one conversion's change
 *
 * Context: any; takes gmem_pv_shared_lock.
 * Return: 0, or -ENOSPC when the list is full.
 */
int gmem_pv_shared_reserve(void)
{
	unsigned long flags;
	int err;

	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	err = gmem_pv_extents_reserve(&gmem_pv_shared);
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	return err;
}

static void gmem_pv_shared_update_locked(u64 gpa, u64 npages, bool shared,
					 bool *reserved)
{
	int ret;

	lockdep_assert_held(&gmem_pv_shared_lock);
	ret = gmem_pv_extents_update(&gmem_pv_shared, gpa,
				     gpa + npages * PAGE_SIZE, shared);
	/* The reservation guarantees room; anything else is a bug here. */
	WARN_ON_ONCE(ret < 0);
	if (ret == 1 && *reserved) {
		gmem_pv_extents_unreserve(&gmem_pv_shared);
		*reserved = false;
	}
}

/**
 * gmem_pv_shared_record() - record a conversion the host confirmed
 * @gpa:	first page of what the host converted
 * @npages:	pages it converted
 * @shared:	they are now shared (else private)
 * @reserved:	the caller's reservation is still held; cleared when the
 *		change used it
 *
 * Context: any; takes gmem_pv_shared_lock.
 */
void gmem_pv_shared_record(u64 gpa, u64 npages, bool shared, bool *reserved)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	gmem_pv_shared_update_locked(gpa, npages, shared, reserved);
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
}

/**
 * gmem_pv_shared_release() - give back a reservation the change did not use
 * @reserved:	the caller's reservation is still held; cleared
 *
 * Context: any; takes gmem_pv_shared_lock.
 */
void gmem_pv_shared_release(bool *reserved)
{
	unsigned long flags;

	if (!*reserved)
		return;
	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	gmem_pv_extents_unreserve(&gmem_pv_shared);
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	*reserved = false;
}

/**
 * gmem_pv_shared_pages() - pages shared now, from the list
 *
 * Context: any; takes gmem_pv_shared_lock.
 * Return: the number of 4 KiB pages the host confirmed shared and the
 * guest has not made private again.
 */
u64 gmem_pv_shared_pages(void)
{
	unsigned long flags;
	u64 pages;

	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	pages = gmem_pv_extents_pages(&gmem_pv_shared);
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	return pages;
}

/**
 * gmem_pv_shared_copy() - a consistent copy of the list
 * @buf:	room for @max ranges
 * @max:	size of @buf
 *
 * Context: any; takes gmem_pv_shared_lock.
 * Return: the number of ranges in the list; at most @max of them copied.
 */
unsigned int gmem_pv_shared_copy(struct gmem_pv_extent *buf, unsigned int max)
{
	unsigned long flags;
	unsigned int nr;

	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	nr = gmem_pv_shared.nr;
	if (max)
		memcpy(buf, gmem_pv_shared.r, min(nr, max) * sizeof(*buf));
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	return nr;
}
