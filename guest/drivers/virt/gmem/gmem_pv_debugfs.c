// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv guest: debugfs counters and a conversion exerciser.
 *
 * /sys/kernel/debug/gmem_pv/ holds one number per file (see
 * Documentation/virt/gmem-pv/guest.rst).  "exercise", with
 * CONFIG_GMEM_PV_DEBUG only, lets a test drive
 * the same path dma_alloc_coherent() takes, set_memory_decrypted() and
 * set_memory_encrypted() on freshly allocated pages, from as many CPUs as
 * it likes, and checks that the contents survive each conversion.
 */

#define pr_fmt(fmt) "gmem-pv: " fmt

#include <linux/debugfs.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/kstrtox.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/set_memory.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/gmem_pv.h>

#include "gmem_pv.h"

#define GMEM_PV_EXERCISE_MAX_ORDER	9	/* 2 MiB per round */

static int gmem_pv_active_get(void *data, u64 *val)
{
	*val = gmem_pv_enabled();
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(gmem_pv_active_fops, gmem_pv_active_get, NULL, "%llu\n");

static int gmem_pv_shared_now_get(void *data, u64 *val)
{
	*val = atomic64_read(&gmem_pv_stats.pages_shared) -
	       atomic64_read(&gmem_pv_stats.pages_unshared);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(gmem_pv_shared_now_fops, gmem_pv_shared_now_get, NULL,
			 "%llu\n");

static int gmem_pv_counter_get(void *data, u64 *val)
{
	*val = atomic64_read(data);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(gmem_pv_counter_fops, gmem_pv_counter_get, NULL, "%llu\n");

static void gmem_pv_fill(u64 *p, size_t words, u64 seed)
{
	size_t i;

	for (i = 0; i < words; i++)
		p[i] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
}

static bool gmem_pv_check(const u64 *p, size_t words, u64 seed)
{
	size_t i;

	for (i = 0; i < words; i++) {
		if (p[i] != (seed ^ (i * 0x9e3779b97f4a7c15ULL)))
			return false;
	}
	return true;
}

/*
 * One round: private pages with a pattern are shared, must still hold it,
 * get a new one, are made private again and must hold the new one.  Pages
 * that could not be made private again are never freed: a shared page
 * must not go back to the allocator.
 */
static int gmem_pv_exercise_round(unsigned int order, u64 seed)
{
	unsigned int npages = 1U << order;
	size_t words = npages * PAGE_SIZE / sizeof(u64);
	struct page *page;
	unsigned long va;
	int err;

	page = alloc_pages(GFP_KERNEL, order);
	if (!page)
		return -ENOMEM;
	va = (unsigned long)page_address(page);

	gmem_pv_fill((u64 *)va, words, seed);
	err = set_memory_decrypted(va, npages);
	if (err) {
		pr_err("exercise: sharing %u pages at %#llx failed: %pe\n",
		       npages, (u64)page_to_phys(page), ERR_PTR(err));
		return err;	/* leaked: the state of the pages is unknown */
	}
	if (!gmem_pv_check((u64 *)va, words, seed)) {
		pr_err("exercise: contents changed when %#llx was shared\n",
		       (u64)page_to_phys(page));
		err = -EIO;
	}

	gmem_pv_fill((u64 *)va, words, ~seed);
	if (set_memory_encrypted(va, npages)) {
		pr_err("exercise: making %u pages at %#llx private failed; leaking them\n",
		       npages, (u64)page_to_phys(page));
		return -EIO;
	}
	if (!err && !gmem_pv_check((u64 *)va, words, ~seed)) {
		pr_err("exercise: contents changed when %#llx was made private\n",
		       (u64)page_to_phys(page));
		err = -EIO;
	}
	__free_pages(page, order);
	return err;
}

/* Write "ROUNDS [ORDER]": run ROUNDS rounds of 2^ORDER pages. */
static ssize_t gmem_pv_exercise_write(struct file *file, const char __user *ubuf,
				      size_t len, loff_t *ppos)
{
	unsigned int rounds, order = 0, i;
	char buf[32];
	int err = 0, n;

	if (!gmem_pv_enabled())
		return -ENODEV;
	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';

	n = sscanf(buf, "%u %u", &rounds, &order);
	if (n < 1 || order > GMEM_PV_EXERCISE_MAX_ORDER)
		return -EINVAL;

	for (i = 0; i < rounds && !err; i++) {
		err = gmem_pv_exercise_round(order,
					     ((u64)raw_smp_processor_id() << 48) ^ i);
		if (fatal_signal_pending(current))
			err = -EINTR;
		cond_resched();
	}
	return err ? err : len;
}

static const struct file_operations gmem_pv_exercise_fops = {
	.owner	= THIS_MODULE,
	.write	= gmem_pv_exercise_write,
	.llseek	= noop_llseek,
};

static int __init gmem_pv_debugfs_init(void)
{
	static const struct {
		const char *name;
		atomic64_t *counter;
	} counters[] = {
		{ "hypercalls",		&gmem_pv_stats.hypercalls },
		{ "pages_shared",	&gmem_pv_stats.pages_shared },
		{ "pages_unshared",	&gmem_pv_stats.pages_unshared },
		{ "failures",		&gmem_pv_stats.failures },
		{ "retries",		&gmem_pv_stats.retries },
		{ "hints",		&gmem_pv_stats.hints },
		{ "hint_pages",		&gmem_pv_stats.hint_pages },
	};
	struct dentry *dir = debugfs_create_dir("gmem_pv", NULL);
	int i;

	debugfs_create_file_unsafe("active", 0444, dir, NULL, &gmem_pv_active_fops);
	debugfs_create_file_unsafe("shared_pages", 0444, dir, NULL,
				   &gmem_pv_shared_now_fops);
	for (i = 0; i < ARRAY_SIZE(counters); i++)
		debugfs_create_file_unsafe(counters[i].name, 0444, dir,
					   counters[i].counter, &gmem_pv_counter_fops);
	/* A debugging aid that any root process can drive: opt-in. */
	if (IS_ENABLED(CONFIG_GMEM_PV_DEBUG))
		debugfs_create_file("exercise", 0200, dir, NULL,
				    &gmem_pv_exercise_fops);
	return 0;
}
late_initcall(gmem_pv_debugfs_init);
