// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests: the maple tree guest_memfd keeps its private/shared state in.
 *
 * The state is an RCU maple tree (lookups are lockless), one entry per run
 * of equal attributes, so a guest that shares every other page makes it
 * deep.  An RCU maple tree frees dead nodes in an RCU callback
 * (mt_free_walk()), which once took the metadata in the last slot of an
 * internal node with 15 children for a child and faulted.  Build trees
 * the way a guest that shares every other page of a private file does
 * (gmem_frag_bench did that for 1 GiB when it crashed the host), at a few
 * sizes, and free them.
 *
 * Included by gmem_pv_attrs.c (CONFIG_KVM_GMEM_PV_KUNIT_TEST); runs when
 * kvm.ko loads.
 */

#include <kunit/test.h>
#include <linux/maple_tree.h>
#include <linux/rcupdate.h>

static void gmem_pv_attrs_free_fragmented(struct kunit *test)
{
	static const unsigned long sizes[] = { 2048, 8192, 32768 };
	struct maple_tree *mt;
	unsigned long i, n;
	unsigned int s;

	mt = kunit_kzalloc(test, sizeof(*mt), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, mt);

	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		n = sizes[s];
		mt_init_flags(mt, MT_FLAGS_USE_RCU);
		/* A private file, as gmem_pv_inode_init() makes it... */
		KUNIT_ASSERT_EQ(test, mtree_store_range(mt, 0, n - 1,
							xa_mk_value(1),
							GFP_KERNEL), 0);
		/* ...whose every other page the guest shares, in order. */
		for (i = 1; i < n; i += 2)
			KUNIT_ASSERT_EQ(test, mtree_store_range(mt, i, i,
								xa_mk_value(0),
								GFP_KERNEL), 0);
		KUNIT_EXPECT_PTR_EQ(test, mtree_load(mt, n - 1), xa_mk_value(0));
		KUNIT_EXPECT_PTR_EQ(test, mtree_load(mt, n - 2), xa_mk_value(1));
		mtree_destroy(mt);
		/* The frees are RCU callbacks: run them while the test is on. */
		rcu_barrier();
	}
}

static struct kunit_case gmem_pv_attrs_cases[] = {
	KUNIT_CASE(gmem_pv_attrs_free_fragmented),
	{}
};

static struct kunit_suite gmem_pv_attrs_suite = {
	.name = "gmem_pv_attrs",
	.test_cases = gmem_pv_attrs_cases,
};

kunit_test_suite(gmem_pv_attrs_suite);
