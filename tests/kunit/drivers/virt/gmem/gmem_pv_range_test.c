// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for gmem-pv's range splitting and hint selection.
 */

#include <kunit/test.h>
#include <kunit/visibility.h>
#include <linux/limits.h>
#include <linux/sizes.h>
#include <linux/kvm_gmem_pv_para.h>

#include "gmem_pv.h"

#define SZ_4K_PAGES(x)	((x) / SZ_4K)
#define H4K		KVM_MAP_GPA_RANGE_PAGE_SZ_4K
#define H2M		KVM_MAP_GPA_RANGE_PAGE_SZ_2M
#define H1G		KVM_MAP_GPA_RANGE_PAGE_SZ_1G

static void hint_for_alignment(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(0, SZ_4K, H1G), H4K);
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(0, SZ_2M, H1G), H2M);
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(0, SZ_1G, H1G), H1G);
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(SZ_1G, 3ULL * SZ_1G, H1G), H1G);
	/* Aligned start, size not a multiple: the smaller hint. */
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(0, SZ_1G + SZ_2M, H1G), H2M);
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(0, SZ_2M + SZ_4K, H1G), H4K);
	/* Unaligned start. */
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(SZ_4K, SZ_2M, H1G), H4K);
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(SZ_2M, SZ_1G, H1G), H2M);
	/* The caller's cap wins. */
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(0, SZ_1G, H2M), H2M);
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(0, SZ_1G, H4K), H4K);
	/* An empty range gets no large hint. */
	KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(0, 0, H1G), H4K);
}

static void next_chunk_rejects_bad_ranges(struct kunit *test)
{
	struct gmem_pv_chunk c;

	KUNIT_EXPECT_EQ(test, gmem_pv_next_chunk(0, 0, H1G, &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, gmem_pv_next_chunk(SZ_8K, SZ_4K, H1G, &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, gmem_pv_next_chunk(1, SZ_4K, H1G, &c), -EINVAL);
	KUNIT_EXPECT_EQ(test, gmem_pv_next_chunk(0, SZ_4K + 1, H1G, &c), -EINVAL);
}

struct chunk_case {
	const char *name;
	u64 start, end;
	unsigned int max_hint;
	unsigned int nr;
	struct gmem_pv_chunk want[5];
};

static const struct chunk_case chunk_cases[] = {
	{ "one page", 0x5000, 0x6000, H1G, 1,
	  { { 0x5000, 1, H4K } } },
	{ "one aligned 2M", SZ_2M, 2 * SZ_2M, H1G, 1,
	  { { SZ_2M, SZ_4K_PAGES(SZ_2M), H2M } } },
	{ "2M plus a page", SZ_2M, 2 * SZ_2M + SZ_4K, H1G, 2,
	  { { SZ_2M, SZ_4K_PAGES(SZ_2M), H2M },
	    { 2 * SZ_2M, 1, H4K } } },
	{ "unaligned head stops at the 2M boundary", SZ_2M - SZ_8K, 2 * SZ_2M, H1G, 2,
	  { { SZ_2M - SZ_8K, 2, H4K },
	    { SZ_2M, SZ_4K_PAGES(SZ_2M), H2M } } },
	{ "no stop at a 2M boundary no 2M unit follows", SZ_2M - SZ_8K, 2 * SZ_2M - SZ_4K, H1G, 1,
	  { { SZ_2M - SZ_8K, SZ_4K_PAGES(SZ_2M + SZ_4K), H4K } } },
	{ "all five parts", SZ_1G - SZ_2M - SZ_4K, 2ULL * SZ_1G + SZ_2M + SZ_4K, H1G, 5,
	  { { SZ_1G - SZ_2M - SZ_4K, 1, H4K },
	    { SZ_1G - SZ_2M, SZ_4K_PAGES(SZ_2M), H2M },
	    { SZ_1G, SZ_4K_PAGES(SZ_1G), H1G },
	    { 2ULL * SZ_1G, SZ_4K_PAGES(SZ_2M), H2M },
	    { 2ULL * SZ_1G + SZ_2M, 1, H4K } } },
	{ "two gigabytes in one call", SZ_1G, 3ULL * SZ_1G, H1G, 1,
	  { { SZ_1G, SZ_4K_PAGES(2ULL * SZ_1G), H1G } } },
	{ "capped at 2M: no stop at 1G boundaries", SZ_2M, 3ULL * SZ_1G, H2M, 1,
	  { { SZ_2M, SZ_4K_PAGES(3ULL * SZ_1G - SZ_2M), H2M } } },
	{ "capped at 4K: one call", SZ_4K, 3ULL * SZ_1G, H4K, 1,
	  { { SZ_4K, SZ_4K_PAGES(3ULL * SZ_1G - SZ_4K), H4K } } },
	{ "top of the address space", U64_MAX - SZ_2M - SZ_4K + 1, U64_MAX - SZ_4K + 1, H1G, 1,
	  { { U64_MAX - SZ_2M - SZ_4K + 1, SZ_4K_PAGES(SZ_2M), H4K } } },
};

static void chunk_case_desc(const struct chunk_case *t, char *desc)
{
	strscpy(desc, t->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(chunk, chunk_cases, chunk_case_desc);

static void next_chunk_splits(struct kunit *test)
{
	const struct chunk_case *t = test->param_value;
	struct gmem_pv_chunk c;
	u64 gpa = t->start;
	unsigned int i;

	for (i = 0; gpa < t->end; i++) {
		KUNIT_ASSERT_LT_MSG(test, i, t->nr, "more chunks than expected");
		KUNIT_ASSERT_EQ(test, gmem_pv_next_chunk(gpa, t->end, t->max_hint, &c), 0);
		KUNIT_EXPECT_EQ_MSG(test, c.gpa, t->want[i].gpa, "chunk %u", i);
		KUNIT_EXPECT_EQ_MSG(test, c.npages, t->want[i].npages, "chunk %u", i);
		KUNIT_EXPECT_EQ_MSG(test, c.hint, t->want[i].hint, "chunk %u", i);
		KUNIT_ASSERT_GT(test, c.npages, 0);
		gpa += c.npages * SZ_4K;
	}
	KUNIT_EXPECT_EQ(test, i, t->nr);
	KUNIT_EXPECT_EQ(test, gpa, t->end);
}

/*
 * Check the invariants the driver relies on for one range: chunks tile it
 * exactly, every hint is truthful for its chunk, no page that could have
 * been covered by a larger hint got a smaller one, and no two calls in a row
 * could have been one.
 */
static void check_chunk_invariants(struct kunit *test, u64 start, u64 end,
				   unsigned int max_hint)
{
	unsigned int calls = 0, prev_hint = UINT_MAX;
	struct gmem_pv_chunk c;
	u64 gpa = start, size;

	while (gpa < end) {
		KUNIT_ASSERT_EQ(test, gmem_pv_next_chunk(gpa, end, max_hint, &c), 0);
		size = c.npages * SZ_4K;
		KUNIT_ASSERT_EQ(test, c.gpa, gpa);
		KUNIT_ASSERT_LE(test, c.hint, max_hint);
		KUNIT_EXPECT_EQ(test, gmem_pv_hint_for(c.gpa, size, c.hint), c.hint);
		if (c.hint == H4K && max_hint >= H2M)
			KUNIT_EXPECT_GT(test, ALIGN(gpa, SZ_2M) + SZ_2M, gpa + size);
		if (c.hint == H2M && max_hint >= H1G)
			KUNIT_EXPECT_GT(test, ALIGN(gpa, SZ_1G) + SZ_1G, gpa + size);
		KUNIT_EXPECT_NE(test, c.hint, prev_hint);
		prev_hint = c.hint;
		gpa += size;
		calls++;
	}
	KUNIT_EXPECT_EQ(test, gpa, end);
	KUNIT_EXPECT_LE(test, calls, 5);
}

static void next_chunk_invariants(struct kunit *test)
{
	static const u64 offs[] = { 0, SZ_4K, SZ_2M - SZ_4K, SZ_2M, SZ_2M + SZ_4K,
				    SZ_1G - SZ_2M, SZ_1G - SZ_4K, SZ_1G, SZ_1G + SZ_2M };
	unsigned int a, b, max_hint;

	for (max_hint = H4K; max_hint <= H1G; max_hint++) {
		for (a = 0; a < ARRAY_SIZE(offs); a++) {
			for (b = 0; b < ARRAY_SIZE(offs); b++)
				check_chunk_invariants(test, SZ_1G + offs[a],
						       3ULL * SZ_1G + offs[b],
						       max_hint);
		}
	}
}

static u64 pfn_from_array(void *ctx, unsigned long idx)
{
	return ((u64 *)ctx)[idx];
}

static void contig_runs(struct kunit *test)
{
	u64 pfns[] = { 10, 11, 12, 40, 41, 7, 100, 101, 102, 103 };
	unsigned long n = ARRAY_SIZE(pfns);

	KUNIT_EXPECT_EQ(test, gmem_pv_contig_run(pfn_from_array, pfns, 0, n), 3);
	KUNIT_EXPECT_EQ(test, gmem_pv_contig_run(pfn_from_array, pfns, 1, n), 2);
	KUNIT_EXPECT_EQ(test, gmem_pv_contig_run(pfn_from_array, pfns, 3, n), 2);
	KUNIT_EXPECT_EQ(test, gmem_pv_contig_run(pfn_from_array, pfns, 5, n), 1);
	KUNIT_EXPECT_EQ(test, gmem_pv_contig_run(pfn_from_array, pfns, 6, n), 4);
	KUNIT_EXPECT_EQ(test, gmem_pv_contig_run(pfn_from_array, pfns, 9, n), 1);
	KUNIT_EXPECT_EQ(test, gmem_pv_contig_run(pfn_from_array, pfns, 10, n), 0);
	/* The run stops at nr even when the frames go on. */
	KUNIT_EXPECT_EQ(test, gmem_pv_contig_run(pfn_from_array, pfns, 6, 8), 2);
}

static void hc_errno_mapping(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(0), 0);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(-KVM_EPERM), -EPERM);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(-KVM_EINVAL), -EINVAL);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(-KVM_EFAULT), -EFAULT);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(-KVM_GMEM_PV_EAGAIN), -EAGAIN);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(-KVM_GMEM_PV_ENOMEM), -ENOMEM);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(-KVM_ENOSYS), -EOPNOTSUPP);
	/* Nothing the ABI does not list passes for success or a known code. */
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(1), -EIO);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(-KVM_EOPNOTSUPP), -EIO);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(-2), -EIO);
	KUNIT_EXPECT_EQ(test, gmem_pv_hc_errno(LONG_MIN), -EIO);
}

static struct kunit_case gmem_pv_range_cases[] = {
	KUNIT_CASE(hint_for_alignment),
	KUNIT_CASE(next_chunk_rejects_bad_ranges),
	KUNIT_CASE_PARAM(next_chunk_splits, chunk_gen_params),
	KUNIT_CASE(next_chunk_invariants),
	KUNIT_CASE(contig_runs),
	KUNIT_CASE(hc_errno_mapping),
	{}
};

static struct kunit_suite gmem_pv_range_suite = {
	.name = "gmem_pv_range",
	.test_cases = gmem_pv_range_cases,
};

kunit_test_suite(gmem_pv_range_suite);

MODULE_DESCRIPTION("KUnit tests for gmem-pv range splitting");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
