// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for gmem-pv's list of shared ranges: the pure arithmetic
 * (insert, merge, split, remove, capacity, reservations, page count) on
 * lists of the test's own, and what the driver's conversion loop records
 * in its list, with the hypercall stubbed, for full and partial progress.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <kunit/visibility.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/kvm_gmem_pv_para.h>

#include "gmem_pv.h"

#define P(n)		((u64)(n) * SZ_4K)
#define MAX_TEST	8

struct list_case {
	struct gmem_pv_extent buf[MAX_TEST];
	struct gmem_pv_extents s;
};

static struct gmem_pv_extents *new_list(struct kunit *test, unsigned int max)
{
	struct list_case *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, c);
	KUNIT_ASSERT_LE(test, max, MAX_TEST);
	c->s.r = c->buf;
	c->s.max = max;
	return &c->s;
}

/* The list is exactly @want (pairs of page numbers), and its invariants hold. */
static void expect_list(struct kunit *test, const struct gmem_pv_extents *s,
			const u64 *want, unsigned int nr)
{
	unsigned int i;

	KUNIT_EXPECT_EQ(test, s->nr, nr);
	for (i = 0; i < s->nr; i++) {
		KUNIT_EXPECT_LT_MSG(test, s->r[i].start, s->r[i].end, "range %u", i);
		if (i)
			KUNIT_EXPECT_LT_MSG(test, s->r[i - 1].end, s->r[i].start,
					    "ranges %u and %u touch or overlap", i - 1, i);
		if (i < nr) {
			KUNIT_EXPECT_EQ_MSG(test, s->r[i].start, P(want[2 * i]), "range %u", i);
			KUNIT_EXPECT_EQ_MSG(test, s->r[i].end, P(want[2 * i + 1]), "range %u", i);
		}
	}
}

static int add(struct gmem_pv_extents *s, u64 first, u64 end)
{
	return gmem_pv_extents_update(s, P(first), P(end), true);
}

static int del(struct gmem_pv_extents *s, u64 first, u64 end)
{
	return gmem_pv_extents_update(s, P(first), P(end), false);
}

static void insert_sorted(struct kunit *test)
{
	struct gmem_pv_extents *s = new_list(test, 8);
	static const u64 want[] = { 1, 2, 10, 12, 20, 30 };

	KUNIT_EXPECT_EQ(test, add(s, 20, 30), 1);
	KUNIT_EXPECT_EQ(test, add(s, 1, 2), 1);
	KUNIT_EXPECT_EQ(test, add(s, 10, 12), 1);
	expect_list(test, s, want, 3);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_pages(s), 1 + 2 + 10);
}

static void merge_adjacent_and_overlapping(struct kunit *test)
{
	struct gmem_pv_extents *s = new_list(test, 8);
	static const u64 left[] = { 5, 20, 30, 40 };
	static const u64 all[] = { 4, 41 };

	add(s, 10, 20);
	add(s, 30, 40);
	/* Touching on the right: merged, no new range. */
	KUNIT_EXPECT_EQ(test, add(s, 5, 10), 0);
	/* Already shared: nothing changes. */
	KUNIT_EXPECT_EQ(test, add(s, 12, 14), 0);
	expect_list(test, s, left, 2);
	/* Bridging the gap and both ends: one range. */
	KUNIT_EXPECT_EQ(test, add(s, 4, 41), 0);
	expect_list(test, s, all, 1);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_pages(s), 37);
}

static void remove_split_trim_drop(struct kunit *test)
{
	struct gmem_pv_extents *s = new_list(test, 8);
	static const u64 split[] = { 0, 10, 12, 100 };
	static const u64 trimmed[] = { 0, 8, 14, 100 };
	static const u64 dropped[] = { 14, 100 };
	static const u64 across[] = { 14, 20, 80, 100 };

	add(s, 0, 100);
	KUNIT_EXPECT_EQ(test, del(s, 10, 12), 1);
	expect_list(test, s, split, 2);
	/* Over the hole and into both sides: trims, no new range. */
	KUNIT_EXPECT_EQ(test, del(s, 8, 14), 0);
	expect_list(test, s, trimmed, 2);
	/* A whole range, and what is already private. */
	KUNIT_EXPECT_EQ(test, del(s, 0, 8), 0);
	KUNIT_EXPECT_EQ(test, del(s, 0, 8), 0);
	KUNIT_EXPECT_EQ(test, del(s, 100, 200), 0);
	expect_list(test, s, dropped, 1);
	KUNIT_EXPECT_EQ(test, del(s, 20, 80), 1);
	expect_list(test, s, across, 2);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_pages(s), 6 + 20);
	/* Across several ranges and the gaps between them. */
	add(s, 30, 40);
	KUNIT_EXPECT_EQ(test, del(s, 15, 90), 0);
	KUNIT_EXPECT_EQ(test, s->nr, 2);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_pages(s), 1 + 10);
	KUNIT_EXPECT_EQ(test, del(s, 0, 1000), 0);
	KUNIT_EXPECT_EQ(test, s->nr, 0);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_pages(s), 0);
}

static void bad_ranges_refused(struct kunit *test)
{
	struct gmem_pv_extents *s = new_list(test, 2);

	KUNIT_EXPECT_EQ(test, gmem_pv_extents_update(s, P(2), P(2), true), -EINVAL);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_update(s, P(3), P(2), false), -EINVAL);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_update(s, P(2) + 1, P(3), true), -EINVAL);
	KUNIT_EXPECT_EQ(test, s->nr, 0);
}

/* A full list refuses only what would grow it, and stays as it was. */
static void full_list_refuses_growth(struct kunit *test)
{
	struct gmem_pv_extents *s = new_list(test, 2);
	static const u64 want[] = { 0, 10, 20, 30 };

	add(s, 0, 10);
	add(s, 20, 30);
	KUNIT_EXPECT_EQ(test, add(s, 40, 50), -ENOSPC);
	KUNIT_EXPECT_EQ(test, del(s, 4, 5), -ENOSPC);
	expect_list(test, s, want, 2);
	KUNIT_EXPECT_EQ(test, add(s, 10, 12), 0);
	KUNIT_EXPECT_EQ(test, del(s, 10, 12), 0);
	KUNIT_EXPECT_EQ(test, del(s, 0, 2), 0);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_pages(s), 8 + 10);
}

static void reservations_bound_the_list(struct kunit *test)
{
	struct gmem_pv_extents *s = new_list(test, 3);

	add(s, 0, 10);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_reserve(s), 0);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_reserve(s), 0);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_reserve(s), -ENOSPC);
	/* What a reservation was for fits. */
	KUNIT_EXPECT_EQ(test, add(s, 20, 30), 1);
	gmem_pv_extents_unreserve(s);
	KUNIT_EXPECT_EQ(test, del(s, 4, 6), 1);
	gmem_pv_extents_unreserve(s);
	KUNIT_EXPECT_EQ(test, s->reserved, 0);
	KUNIT_EXPECT_EQ(test, gmem_pv_extents_reserve(s), -ENOSPC);
	gmem_pv_extents_unreserve(s);
	KUNIT_EXPECT_EQ(test, s->reserved, 0);
}

/*
 * The driver's loop: the steps of a conversion are contiguous from its
 * start, so the one reservation covers them however far the host gets.
 */
static void contiguous_steps_need_one_entry(struct kunit *test)
{
	struct gmem_pv_extents *s = new_list(test, 2);
	static const u64 shared[] = { 0, 10, 20, 50 };
	static const u64 back[] = { 0, 10, 20, 25, 45, 50 };
	u64 p;

	add(s, 0, 10);
	KUNIT_EXPECT_EQ(test, add(s, 20, 25), 1);
	for (p = 25; p < 50; p += 5)
		KUNIT_EXPECT_EQ(test, add(s, p, p + 5), 0);
	expect_list(test, s, shared, 2);

	s->max = 3;
	KUNIT_EXPECT_EQ(test, del(s, 25, 30), 1);
	for (p = 30; p < 45; p += 5)
		KUNIT_EXPECT_EQ(test, del(s, p, p + 5), 0);
	expect_list(test, s, back, 3);
}

/* The driver's own list, with the hypercall stubbed. */

struct fake_host {
	u64 fail_gpa;		/* calls covering it fail */
	long fail_ret;
	unsigned int calls;
};

static long fake_map_gpa_range(u64 gpa, u64 npages, u64 attrs)
{
	struct fake_host *h = kunit_get_current_test()->priv;

	h->calls++;
	if (h->fail_gpa >= gpa && h->fail_gpa < gpa + npages * SZ_4K)
		return h->fail_ret;
	return 0;
}

static void fake_retry_wait(unsigned int tries)
{
}

/* The driver's list and counters as they were, put back after the suite. */
static struct gmem_pv_extent *saved_ranges;
static unsigned int saved_nr;
static struct gmem_pv_stats saved_stats;

static void copy_stats(struct gmem_pv_stats *to, struct gmem_pv_stats *from)
{
	atomic64_set(&to->hypercalls, atomic64_read(&from->hypercalls));
	atomic64_set(&to->pages_shared, atomic64_read(&from->pages_shared));
	atomic64_set(&to->pages_unshared, atomic64_read(&from->pages_unshared));
	atomic64_set(&to->failures, atomic64_read(&from->failures));
	atomic64_set(&to->retries, atomic64_read(&from->retries));
	atomic64_set(&to->hints, atomic64_read(&from->hints));
	atomic64_set(&to->hint_pages, atomic64_read(&from->hint_pages));
}

static int shared_suite_init(struct kunit_suite *suite)
{
	saved_ranges = kcalloc(gmem_pv_shared.max, sizeof(*saved_ranges),
			       GFP_KERNEL);
	if (!saved_ranges)
		return -ENOMEM;
	copy_stats(&saved_stats, &gmem_pv_stats);
	saved_nr = gmem_pv_shared_copy(saved_ranges, gmem_pv_shared.max);
	return 0;
}

static void shared_suite_exit(struct kunit_suite *suite)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	memcpy(gmem_pv_shared.r, saved_ranges, saved_nr * sizeof(*saved_ranges));
	gmem_pv_shared.nr = saved_nr;
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	copy_stats(&gmem_pv_stats, &saved_stats);
	kfree(saved_ranges);
}

/*
 * Each test of the driver's list starts from an empty one; no conversion
 * of the real driver runs meanwhile in the machines this runs in (the
 * driver is dormant in L1, KUnit is off in the guests).
 */
static int shared_test_init(struct kunit *test)
{
	struct fake_host *h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);
	unsigned long flags;

	KUNIT_ASSERT_NOT_NULL(test, h);
	h->fail_gpa = -1ULL;
	test->priv = h;
	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	gmem_pv_shared.nr = 0;
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	kunit_activate_static_stub(test, gmem_pv_map_gpa_range,
				   fake_map_gpa_range);
	kunit_activate_static_stub(test, gmem_pv_retry_wait, fake_retry_wait);
	return 0;
}

static void expect_driver_list(struct kunit *test, const u64 *want,
			       unsigned int nr)
{
	struct gmem_pv_extent got[MAX_TEST];
	unsigned int n, i;

	n = gmem_pv_shared_copy(got, MAX_TEST);
	KUNIT_ASSERT_EQ(test, n, nr);
	for (i = 0; i < n; i++) {
		KUNIT_EXPECT_EQ_MSG(test, got[i].start, want[2 * i], "range %u", i);
		KUNIT_EXPECT_EQ_MSG(test, got[i].end, want[2 * i + 1], "range %u", i);
	}
	KUNIT_EXPECT_EQ(test, gmem_pv_shared.reserved, 0);
}

static void driver_records_confirmed_conversions(struct kunit *test)
{
	struct gmem_pv_chunk share = { SZ_1G, SZ_4M / SZ_4K,
				       KVM_MAP_GPA_RANGE_PAGE_SZ_2M };
	struct gmem_pv_chunk back = { SZ_1G + SZ_2M, 1, KVM_MAP_GPA_RANGE_PAGE_SZ_4K };
	static const u64 one[] = { SZ_1G, SZ_1G + SZ_4M };
	static const u64 two[] = { SZ_1G, SZ_1G + SZ_2M,
				   SZ_1G + SZ_2M + SZ_4K, SZ_1G + SZ_4M };
	u64 done;

	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&share, false, false, &done), 0);
	expect_driver_list(test, one, 1);
	KUNIT_EXPECT_EQ(test, gmem_pv_shared_pages(), SZ_4M / SZ_4K);
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&back, true, false, &done), 0);
	expect_driver_list(test, two, 2);
	KUNIT_EXPECT_EQ(test, gmem_pv_shared_pages(), SZ_4M / SZ_4K - 1);
	/* A boot-time hint (private, hint only) is a conversion too. */
	back.npages = SZ_4M / SZ_4K;
	back.gpa = SZ_1G;
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&back, true, true, &done), 0);
	expect_driver_list(test, NULL, 0);
	KUNIT_EXPECT_EQ(test, gmem_pv_shared_pages(), 0);
}

/*
 * The host fails the third 16 MiB step of a 64 MiB share: the two steps
 * it confirmed are shared, the rest is not.  Then it fails a conversion
 * back in the second step: only the first step is private again.
 */
static void driver_records_partial_progress(struct kunit *test)
{
	struct gmem_pv_chunk c = { SZ_1G, SZ_64M / SZ_4K,
				   KVM_MAP_GPA_RANGE_PAGE_SZ_2M };
	struct fake_host *h = test->priv;
	static const u64 half[] = { SZ_1G, SZ_1G + 2 * SZ_16M };
	static const u64 quarter[] = { SZ_1G + SZ_16M, SZ_1G + 2 * SZ_16M };
	u64 done;

	h->fail_gpa = SZ_1G + 2 * SZ_16M + SZ_4K;
	h->fail_ret = -KVM_EFAULT;
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, false, false, &done), -EFAULT);
	KUNIT_EXPECT_EQ(test, done, 2 * SZ_16M / SZ_4K);
	expect_driver_list(test, half, 1);
	KUNIT_EXPECT_EQ(test, gmem_pv_shared_pages(), 2 * SZ_16M / SZ_4K);

	h->fail_gpa = SZ_1G + SZ_16M;
	h->fail_ret = -KVM_EINVAL;
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, true, false, &done), -EINVAL);
	KUNIT_EXPECT_EQ(test, done, SZ_16M / SZ_4K);
	expect_driver_list(test, quarter, 1);
	KUNIT_EXPECT_EQ(test, gmem_pv_shared_pages(), SZ_16M / SZ_4K);
}

/* A refused conversion changes nothing; with the list full, no hypercall. */
static void driver_full_list_refuses_before_the_hypercall(struct kunit *test)
{
	struct gmem_pv_chunk c = { SZ_1G, 1, KVM_MAP_GPA_RANGE_PAGE_SZ_4K };
	struct fake_host *h = test->priv;
	s64 failures = atomic64_read(&gmem_pv_stats.failures);
	unsigned int max = gmem_pv_shared.max;
	unsigned long flags;
	u64 done = 99;

	h->fail_gpa = SZ_1G;
	h->fail_ret = -KVM_EPERM;
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, false, false, &done), -EPERM);
	expect_driver_list(test, NULL, 0);

	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	gmem_pv_shared.max = 0;
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	h->calls = 0;
	h->fail_gpa = -1ULL;
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, false, false, &done), -ENOMEM);
	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	gmem_pv_shared.max = max;
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	KUNIT_EXPECT_EQ(test, h->calls, 0);
	KUNIT_EXPECT_EQ(test, done, 0);
	KUNIT_EXPECT_EQ(test, atomic64_read(&gmem_pv_stats.failures) - failures, 2);
	expect_driver_list(test, NULL, 0);
}

static struct kunit_case gmem_pv_shared_cases[] = {
	KUNIT_CASE(insert_sorted),
	KUNIT_CASE(merge_adjacent_and_overlapping),
	KUNIT_CASE(remove_split_trim_drop),
	KUNIT_CASE(bad_ranges_refused),
	KUNIT_CASE(full_list_refuses_growth),
	KUNIT_CASE(reservations_bound_the_list),
	KUNIT_CASE(contiguous_steps_need_one_entry),
	KUNIT_CASE(driver_records_confirmed_conversions),
	KUNIT_CASE(driver_records_partial_progress),
	KUNIT_CASE(driver_full_list_refuses_before_the_hypercall),
	{}
};

static struct kunit_suite gmem_pv_shared_suite = {
	.name = "gmem_pv_shared",
	.suite_init = shared_suite_init,
	.suite_exit = shared_suite_exit,
	.init = shared_test_init,
	.test_cases = gmem_pv_shared_cases,
};

kunit_test_suite(gmem_pv_shared_suite);

MODULE_DESCRIPTION("KUnit tests for gmem-pv's list of shared ranges");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
