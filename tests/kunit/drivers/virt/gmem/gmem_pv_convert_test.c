// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for gmem-pv's conversion loop, early sharing and activation
 * decision, with the hypercall stubbed: a fake host answers
 * KVM_HC_MAP_GPA_RANGE, and retries are counted instead of waited for.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <kunit/visibility.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/kvm_gmem_pv_para.h>

#include "gmem_pv.h"

#define H4K		KVM_MAP_GPA_RANGE_PAGE_SZ_4K
#define H2M		KVM_MAP_GPA_RANGE_PAGE_SZ_2M
#define STEP_PAGES	(SZ_16M / SZ_4K)
#define MAX_CALLS	64
#define MAX_BAD		4

/* A page that makes every call covering it fail, @left times (-1: always). */
struct bad_page {
	u64 gpa;
	long ret;
	int left;
};

struct fake_host {
	struct bad_page bad[MAX_BAD];
	unsigned int nr_bad;
	struct {
		u64 gpa, npages, attrs;
		long ret;
	} calls[MAX_CALLS];
	unsigned int nr_calls;
	unsigned int waits;
};

/*
 * The host's answer: the first bad page of the range fails it.  (A real
 * host has converted the steps before that page; the guest cannot know,
 * and its loop must not depend on it.)
 */
static long fake_map_gpa_range(u64 gpa, u64 npages, u64 attrs)
{
	struct kunit *test = kunit_get_current_test();
	struct fake_host *h = test->priv;
	long ret = 0;
	unsigned int i;

	for (i = 0; i < h->nr_bad; i++) {
		struct bad_page *b = &h->bad[i];

		if (b->left && b->gpa >= gpa && b->gpa < gpa + npages * SZ_4K) {
			ret = b->ret;
			if (b->left > 0)
				b->left--;
			break;
		}
	}
	KUNIT_ASSERT_LT_MSG(test, h->nr_calls, MAX_CALLS, "too many hypercalls");
	h->calls[h->nr_calls].gpa = gpa;
	h->calls[h->nr_calls].npages = npages;
	h->calls[h->nr_calls].attrs = attrs;
	h->calls[h->nr_calls].ret = ret;
	h->nr_calls++;
	return ret;
}

static void fake_retry_wait(unsigned int tries)
{
	struct fake_host *h = kunit_get_current_test()->priv;

	h->waits++;
}

/*
 * The suite drives the driver's real loop, which counts in the driver's
 * debugfs counters; put them back as they were, so that what a test of a
 * dormant driver (guest/dormant_in_l1) reads is the driver's own doing.
 */
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

/* The driver's list of shared ranges too, which the conversions change. */
static struct gmem_pv_extent *saved_ranges;
static unsigned int saved_nr;

static int convert_suite_init(struct kunit_suite *suite)
{
	saved_ranges = kcalloc(gmem_pv_shared.max, sizeof(*saved_ranges),
			       GFP_KERNEL);
	if (!saved_ranges)
		return -ENOMEM;
	copy_stats(&saved_stats, &gmem_pv_stats);
	saved_nr = gmem_pv_shared_copy(saved_ranges, gmem_pv_shared.max);
	return 0;
}

static void convert_suite_exit(struct kunit_suite *suite)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&gmem_pv_shared_lock, flags);
	memcpy(gmem_pv_shared.r, saved_ranges, saved_nr * sizeof(*saved_ranges));
	gmem_pv_shared.nr = saved_nr;
	raw_spin_unlock_irqrestore(&gmem_pv_shared_lock, flags);
	copy_stats(&gmem_pv_stats, &saved_stats);
	kfree(saved_ranges);
}

static int convert_test_init(struct kunit *test)
{
	struct fake_host *h = kunit_kzalloc(test, sizeof(*h), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, h);
	test->priv = h;
	kunit_activate_static_stub(test, gmem_pv_map_gpa_range,
				   fake_map_gpa_range);
	kunit_activate_static_stub(test, gmem_pv_retry_wait, fake_retry_wait);
	return 0;
}

static void add_bad(struct kunit *test, u64 gpa, long ret, int times)
{
	struct fake_host *h = test->priv;

	KUNIT_ASSERT_LT(test, h->nr_bad, MAX_BAD);
	h->bad[h->nr_bad++] = (struct bad_page){ gpa, ret, times };
}

struct counters {
	s64 hypercalls, shared, unshared, hint_pages, failures, retries;
};

static struct counters read_counters(void)
{
	return (struct counters){
		atomic64_read(&gmem_pv_stats.hypercalls),
		atomic64_read(&gmem_pv_stats.pages_shared),
		atomic64_read(&gmem_pv_stats.pages_unshared),
		atomic64_read(&gmem_pv_stats.hint_pages),
		atomic64_read(&gmem_pv_stats.failures),
		atomic64_read(&gmem_pv_stats.retries),
	};
}

/*
 * The successful calls tile [chunk->gpa, + @done pages) in order, each
 * with the chunk's hint and direction, each 2 MiB aligned for a 2 MiB hint.
 */
static void check_tiling(struct kunit *test, const struct gmem_pv_chunk *c,
			 u64 attrs, u64 done)
{
	struct fake_host *h = test->priv;
	u64 next = c->gpa;
	unsigned int i;

	for (i = 0; i < h->nr_calls; i++) {
		KUNIT_EXPECT_EQ_MSG(test, h->calls[i].attrs, attrs, "call %u", i);
		if (c->hint == H2M) {
			KUNIT_EXPECT_TRUE_MSG(test, IS_ALIGNED(h->calls[i].gpa, SZ_2M),
					      "call %u at %#llx", i, h->calls[i].gpa);
			KUNIT_EXPECT_TRUE_MSG(test, IS_ALIGNED(h->calls[i].npages, 512),
					      "call %u: %llu pages", i, h->calls[i].npages);
		}
		if (h->calls[i].ret)
			continue;
		KUNIT_EXPECT_EQ_MSG(test, h->calls[i].gpa, next, "call %u", i);
		next = h->calls[i].gpa + h->calls[i].npages * SZ_4K;
	}
	KUNIT_EXPECT_EQ(test, next, c->gpa + done * SZ_4K);
}

static void whole_chunk_in_one_call(struct kunit *test)
{
	struct gmem_pv_chunk c = { SZ_1G, SZ_64M / SZ_4K, H2M };
	struct fake_host *h = test->priv;
	struct counters a = read_counters(), b;
	u64 done = 0;

	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, false, false, &done), 0);
	b = read_counters();
	KUNIT_EXPECT_EQ(test, h->nr_calls, 1);
	KUNIT_EXPECT_EQ(test, h->calls[0].npages, c.npages);
	KUNIT_EXPECT_EQ(test, done, c.npages);
	KUNIT_EXPECT_EQ(test, h->waits, 0);
	KUNIT_EXPECT_EQ(test, b.hypercalls - a.hypercalls, 1);
	KUNIT_EXPECT_EQ(test, b.shared - a.shared, c.npages);
	KUNIT_EXPECT_EQ(test, b.unshared - a.unshared, 0);
	KUNIT_EXPECT_EQ(test, b.failures - a.failures, 0);
	check_tiling(test, &c, H2M, done);
}

/* EAGAIN or ENOMEM a few times, then success: retried, waited, counted. */
static void transient_errors_retried(struct kunit *test)
{
	static const long codes[] = { -KVM_GMEM_PV_EAGAIN, -KVM_GMEM_PV_ENOMEM };
	struct gmem_pv_chunk c = { 0x5000, 1, H4K };
	struct fake_host *h = test->priv;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(codes); i++) {
		struct counters a = read_counters(), b;
		u64 done = 0;

		memset(h, 0, sizeof(*h));
		add_bad(test, 0x5000, codes[i], 3);
		KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, true, false, &done), 0);
		b = read_counters();
		KUNIT_EXPECT_EQ(test, h->nr_calls, 4);
		KUNIT_EXPECT_EQ(test, h->waits, 3);
		KUNIT_EXPECT_EQ(test, done, 1);
		KUNIT_EXPECT_EQ(test, b.hypercalls - a.hypercalls, 4);
		KUNIT_EXPECT_EQ(test, b.retries - a.retries, 3);
		KUNIT_EXPECT_EQ(test, b.unshared - a.unshared, 1);
		KUNIT_EXPECT_EQ(test, b.failures - a.failures, 0);
	}
}

/* A page that stays pinned: a bounded number of tries, then the error. */
static void gives_up_on_a_pinned_page(struct kunit *test)
{
	struct gmem_pv_chunk c = { 0x5000, 4, H4K };
	struct fake_host *h = test->priv;
	struct counters a = read_counters(), b;
	u64 done = 99;

	add_bad(test, 0x6000, -KVM_GMEM_PV_EAGAIN, -1);
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, true, false, &done), -EAGAIN);
	b = read_counters();
	KUNIT_EXPECT_EQ(test, h->nr_calls, 8);
	KUNIT_EXPECT_EQ(test, h->waits, 7);
	KUNIT_EXPECT_EQ(test, done, 0);
	KUNIT_EXPECT_EQ(test, b.failures - a.failures, 1);
	KUNIT_EXPECT_EQ(test, b.unshared - a.unshared, 0);
}

/*
 * Two pages of a 64 MiB chunk pinned for a while, in different 16 MiB
 * steps: 9 retries in all, more than one step's budget of 8, but each step
 * needs fewer, and a step that completes starts the budget over.
 */
static void progress_resets_the_budget(struct kunit *test)
{
	struct gmem_pv_chunk c = { SZ_1G, SZ_64M / SZ_4K, H2M };
	struct fake_host *h = test->priv;
	struct counters a = read_counters(), b;
	u64 done = 0;

	add_bad(test, SZ_1G + SZ_4M, -KVM_GMEM_PV_EAGAIN, 5);
	add_bad(test, SZ_1G + 2 * SZ_16M + SZ_2M, -KVM_GMEM_PV_EAGAIN, 5);
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, true, true, &done), 0);
	b = read_counters();
	KUNIT_EXPECT_EQ(test, done, c.npages);
	/* Whole (fails), step 0 x5, step 1, step 2 x6, step 3. */
	KUNIT_EXPECT_EQ(test, h->nr_calls, 1 + 5 + 1 + 6 + 1);
	KUNIT_EXPECT_EQ(test, h->waits, 4 + 5);
	KUNIT_EXPECT_EQ(test, h->calls[1].npages, STEP_PAGES);
	KUNIT_EXPECT_EQ(test, b.hint_pages - a.hint_pages, c.npages);
	KUNIT_EXPECT_EQ(test, b.unshared - a.unshared, 0);
	KUNIT_EXPECT_EQ(test, b.failures - a.failures, 0);
	check_tiling(test, &c, H2M | KVM_GMEM_PV_HC_PRIVATE, done);
}

/*
 * A page not backed by guest_memfd in the third step: the steps before it
 * are reported done and counted, the failing one is not retried.
 */
static void partial_progress_then_efault(struct kunit *test)
{
	struct gmem_pv_chunk c = { SZ_1G, SZ_64M / SZ_4K, H2M };
	struct fake_host *h = test->priv;
	struct counters a = read_counters(), b;
	u64 done = 0;

	add_bad(test, SZ_1G + 2 * SZ_16M + SZ_4K, -KVM_EFAULT, -1);
	KUNIT_EXPECT_EQ(test, gmem_pv_convert_chunk(&c, true, true, &done), -EFAULT);
	b = read_counters();
	KUNIT_EXPECT_EQ(test, done, 2 * STEP_PAGES);
	KUNIT_EXPECT_EQ(test, h->nr_calls, 1 + 3);
	KUNIT_EXPECT_EQ(test, h->waits, 0);
	KUNIT_EXPECT_EQ(test, b.hint_pages - a.hint_pages, 2 * STEP_PAGES);
	KUNIT_EXPECT_EQ(test, b.failures - a.failures, 1);
	check_tiling(test, &c, H2M | KVM_GMEM_PV_HC_PRIVATE, done);
}

/* Errors the host never clears are not retried at all. */
static void hard_errors_not_retried(struct kunit *test)
{
	static const long codes[] = { -KVM_EPERM, -KVM_EINVAL, -KVM_EFAULT,
				      -KVM_ENOSYS, 1 };
	struct gmem_pv_chunk c = { 0x5000, 1, H4K };
	struct fake_host *h = test->priv;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(codes); i++) {
		u64 done = 99;

		memset(h, 0, sizeof(*h));
		add_bad(test, 0x5000, codes[i], -1);
		KUNIT_EXPECT_LT(test, gmem_pv_convert_chunk(&c, false, false, &done), 0);
		KUNIT_EXPECT_EQ_MSG(test, h->nr_calls, 1, "code %ld", codes[i]);
		KUNIT_EXPECT_EQ(test, h->waits, 0);
		KUNIT_EXPECT_EQ(test, done, 0);
	}
}

static u64 pfn_from_array(void *ctx, unsigned long idx)
{
	return ((u64 *)ctx)[idx];
}

/*
 * Per-CPU variables come one at a time: a page just shared is not shared
 * again, every other page is shared on its own (a per-CPU area need not
 * be contiguous), and a failure stops with the page not remembered.
 */
static void early_share_each_page_once(struct kunit *test)
{
	u64 pfns[] = { 5, 5, 6, 6, 6, 9 }, more[] = { 9, 20, 40 };
	struct fake_host *h = test->priv;
	struct counters a = read_counters(), b;
	u64 last = -1ULL;
	unsigned int i;

	KUNIT_EXPECT_EQ(test, gmem_pv_share_each(pfn_from_array, pfns,
						 ARRAY_SIZE(pfns), &last), 0);
	KUNIT_EXPECT_EQ(test, h->nr_calls, 3);
	KUNIT_EXPECT_EQ(test, h->calls[0].gpa, 5 * SZ_4K);
	KUNIT_EXPECT_EQ(test, h->calls[1].gpa, 6 * SZ_4K);
	KUNIT_EXPECT_EQ(test, h->calls[2].gpa, 9 * SZ_4K);
	for (i = 0; i < h->nr_calls; i++) {
		KUNIT_EXPECT_EQ(test, h->calls[i].npages, 1);
		KUNIT_EXPECT_EQ(test, h->calls[i].attrs, H4K);
	}
	KUNIT_EXPECT_EQ(test, last, 9);
	b = read_counters();
	KUNIT_EXPECT_EQ(test, b.shared - a.shared, 3);

	/* The next CPU's first variable is in the page shared last. */
	add_bad(test, 40 * SZ_4K, -KVM_EFAULT, -1);
	KUNIT_EXPECT_EQ(test, gmem_pv_share_each(pfn_from_array, more,
						 ARRAY_SIZE(more), &last), -EFAULT);
	KUNIT_EXPECT_EQ(test, h->nr_calls, 3 + 2);
	KUNIT_EXPECT_EQ(test, h->calls[3].gpa, 20 * SZ_4K);
	KUNIT_EXPECT_EQ(test, h->calls[4].gpa, 40 * SZ_4K);
	KUNIT_EXPECT_EQ(test, last, 20);
}

static void activation_decision(struct kunit *test)
{
	static const struct {
		bool offered;
		enum gmem_pv_mode mode;
		bool encrypted;
		bool active;
		bool reason;
	} cases[] = {
		{ false, GMEM_PV_ON, false, false, true },
		{ false, GMEM_PV_REQUIRE, false, false, true },
		{ false, GMEM_PV_OFF, false, false, true },
		{ true, GMEM_PV_ON, false, true, false },
		{ true, GMEM_PV_REQUIRE, false, true, false },
		{ true, GMEM_PV_OFF, false, false, false },
		{ true, GMEM_PV_ON, true, false, true },
		{ true, GMEM_PV_REQUIRE, true, false, true },
		{ true, GMEM_PV_OFF, true, false, false },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *why = "unset";

		KUNIT_EXPECT_EQ_MSG(test, gmem_pv_decide(cases[i].offered, cases[i].mode,
							 cases[i].encrypted, &why),
				    cases[i].active, "case %u", i);
		KUNIT_EXPECT_EQ_MSG(test, !!why, cases[i].reason,
				    "case %u: %s", i, why ?: "(none)");
	}
}

static struct kunit_case gmem_pv_convert_cases[] = {
	KUNIT_CASE(whole_chunk_in_one_call),
	KUNIT_CASE(transient_errors_retried),
	KUNIT_CASE(gives_up_on_a_pinned_page),
	KUNIT_CASE(progress_resets_the_budget),
	KUNIT_CASE(partial_progress_then_efault),
	KUNIT_CASE(hard_errors_not_retried),
	KUNIT_CASE(early_share_each_page_once),
	KUNIT_CASE(activation_decision),
	{}
};

static struct kunit_suite gmem_pv_convert_suite = {
	.name = "gmem_pv_convert",
	.suite_init = convert_suite_init,
	.suite_exit = convert_suite_exit,
	.init = convert_test_init,
	.test_cases = gmem_pv_convert_cases,
};

kunit_test_suite(gmem_pv_convert_suite);

MODULE_DESCRIPTION("KUnit tests for gmem-pv's conversion loop");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
