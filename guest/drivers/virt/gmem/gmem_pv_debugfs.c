// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv guest: debugfs counters and a conversion exerciser.
 *
 * /sys/kernel/debug/gmem_pv/ holds one number per file, and the list of
 * shared ranges in shared_ranges (see Documentation/virt/gmem-pv/guest.rst).  "exercise", with
 * CONFIG_GMEM_PV_DEBUG only, lets a test drive
 * the same path dma_alloc_coherent() takes, set_memory_decrypted() and
 * set_memory_encrypted() on freshly allocated pages, from as many CPUs as
 * it likes, and checks that sharing leaves nothing of what the pages held
 * and that making them private again keeps their contents.  "canary" and
 * "hint_test" are the guest halves of end-to-end tests (tests/vmm/e2e.sh).
 * All three are test aids, created with CONFIG_GMEM_PV_DEBUG only.
 */

#define pr_fmt(fmt) "gmem-pv: " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/kstrtox.h>
#include <linux/mm.h>
#include <linux/platform_device.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/set_memory.h>
#include <linux/smp.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
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
	*val = gmem_pv_shared_pages();
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(gmem_pv_shared_now_fops, gmem_pv_shared_now_get, NULL,
			 "%llu\n");

/*
 * shared_ranges: the ranges the host confirmed shared, one "START END" per
 * line in hex (END exclusive), sorted, merged; a consistent copy.
 */
static int gmem_pv_shared_ranges_show(struct seq_file *m, void *v)
{
	struct gmem_pv_extent *buf = NULL;
	unsigned int nr = 0, want, i;

	for (;;) {
		want = gmem_pv_shared_copy(buf, nr);
		if (want <= nr)
			break;
		kvfree(buf);
		nr = want + 16;
		buf = kvmalloc_array(nr, sizeof(*buf), GFP_KERNEL);
		if (!buf)
			return -ENOMEM;
	}
	for (i = 0; i < want; i++)
		seq_printf(m, "%#llx %#llx\n", buf[i].start, buf[i].end);
	kvfree(buf);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gmem_pv_shared_ranges);

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
 * No word of the pattern gmem_pv_fill() wrote with @seed is left (a zero
 * word, which the pattern has where i * K == @seed, tells nothing).
 */
static bool gmem_pv_none_left(const u64 *p, size_t words, u64 seed)
{
	size_t i;

	for (i = 0; i < words; i++) {
		if (p[i] && p[i] == (seed ^ (i * 0x9e3779b97f4a7c15ULL)))
			return false;
	}
	return true;
}

/*
 * One round: private pages with a pattern are shared and must then hold
 * none of it (sharing never publishes what a page held), get a new one, are
 * made private again and must hold it.  Pages that could not be made
 * private again are never freed: a shared page must not go back to the
 * allocator.
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
	if (!gmem_pv_none_left((u64 *)va, words, seed)) {
		pr_err("exercise: %#llx still held private data once shared\n",
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

/* A command written to a debugfs file, as a string in @buf of @size bytes. */
static int gmem_pv_copy_cmd(char *buf, size_t size, const char __user *ubuf,
			    size_t len)
{
	if (len >= size)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	return 0;
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
	err = gmem_pv_copy_cmd(buf, sizeof(buf), ubuf, len);
	if (err)
		return err;

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

/*
 * gmem_pv_canary=MIB: early in boot, before the DMA pools and the devices,
 * fill up to MIB MiB of free pages with the canary word and free them
 * again, so that the pages later shared (atomic pool growth, coherent
 * buffers, the rest) come from memory that held it.  The VMM's scan of
 * shared pages must then never find it, except in the control page the
 * "canary" file shares with its contents on purpose.
 */
#define GMEM_PV_CANARY		0xc4a1a3e5deadf00dULL

static unsigned long gmem_pv_canary_mib __initdata;
static u64 gmem_pv_canary_filled;
static u64 gmem_pv_canary_gpa;

static int __init gmem_pv_canary_parse(char *arg)
{
	return kstrtoul(arg ?: "", 0, &gmem_pv_canary_mib);
}
early_param("gmem_pv_canary", gmem_pv_canary_parse);

/* One canary word per cache line is enough to be found, and quick. */
static void gmem_pv_canary_fill(void *va, size_t bytes)
{
	u64 *p = va;
	size_t i;

	for (i = 0; i < bytes / sizeof(u64); i += 8)
		p[i] = GMEM_PV_CANARY;
}

static int __init gmem_pv_canary_init(void)
{
	const gfp_t gfp = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN;
	u64 want = (u64)gmem_pv_canary_mib << 20, done = 0;
	struct page *page, *next;
	int order = MAX_PAGE_ORDER;
	LIST_HEAD(pages);

	if (!gmem_pv_canary_mib || !gmem_pv_enabled())
		return 0;

	while (done < want && order >= 0) {
		page = alloc_pages(gfp, order);
		if (!page) {
			order--;
			continue;
		}
		set_page_private(page, order);
		gmem_pv_canary_fill(page_address(page), PAGE_SIZE << order);
		list_add(&page->lru, &pages);
		done += PAGE_SIZE << order;
	}
	list_for_each_entry_safe(page, next, &pages, lru) {
		list_del(&page->lru);
		order = page_private(page);
		set_page_private(page, 0);
		__free_pages(page, order);
	}
	gmem_pv_canary_filled = done >> 20;
	pr_info("canary: filled and freed %llu MiB\n", gmem_pv_canary_filled);
	return 0;
}
early_initcall(gmem_pv_canary_init);

static struct device *gmem_pv_test_dev;

static struct device *gmem_pv_get_test_dev(void)
{
	struct platform_device *pdev;

	if (gmem_pv_test_dev)
		return gmem_pv_test_dev;
	pdev = platform_device_register_simple("gmem_pv_dma_test", -1, NULL, 0);
	if (IS_ERR(pdev))
		return NULL;
	if (dma_coerce_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64))) {
		platform_device_unregister(pdev);
		return NULL;
	}
	gmem_pv_test_dev = &pdev->dev;
	return gmem_pv_test_dev;
}

#define GMEM_PV_CANARY_BUFS	16

/*
 * Write anything: share a control page with its contents (the canary) and
 * leave it shared, then make the DMA code share memory every way it does:
 * coherent buffers of several sizes, atomic allocations until the atomic
 * pool grew, and streaming mappings through swiotlb.  Read: the control
 * page's GPA.
 */
static int gmem_pv_canary_run(void *data, u64 val)
{
	static DEFINE_MUTEX(lock);
	struct device *dev;
	void *buf[GMEM_PV_CANARY_BUFS], *cpu;
	dma_addr_t dma[GMEM_PV_CANARY_BUFS];
	struct page *page;
	int i, round, err = 0;

	if (!gmem_pv_enabled())
		return -ENODEV;
	dev = gmem_pv_get_test_dev();
	if (!dev)
		return -ENODEV;

	mutex_lock(&lock);
	if (!gmem_pv_canary_gpa) {
		page = alloc_page(GFP_KERNEL);
		if (!page) {
			err = -ENOMEM;
			goto out;
		}
		gmem_pv_canary_fill(page_address(page), PAGE_SIZE);
		/* Shared for good; leaked also if the conversion fails. */
		err = gmem_pv_share_keep(page_address(page), 1);
		if (err)
			goto out;
		gmem_pv_canary_gpa = page_to_phys(page);
	}

	/* Coherent buffers, 4 KiB to 256 KiB, shared by dma-direct. */
	for (i = 0; i < GMEM_PV_CANARY_BUFS; i++)
		buf[i] = dma_alloc_coherent(dev, PAGE_SIZE << (i % 7), &dma[i],
					    GFP_KERNEL);
	for (i = 0; i < GMEM_PV_CANARY_BUFS; i++) {
		if (!buf[i])
			err = -ENOMEM;
		else
			dma_free_coherent(dev, PAGE_SIZE << (i % 7), buf[i], dma[i]);
	}

	/* Atomic allocations come from the pool, which grows in a worker. */
	for (round = 0; round < 4; round++) {
		for (i = 0; i < GMEM_PV_CANARY_BUFS; i++)
			buf[i] = dma_alloc_coherent(dev, SZ_64K, &dma[i], GFP_ATOMIC);
		msleep(50);
		for (i = 0; i < GMEM_PV_CANARY_BUFS; i++) {
			if (buf[i])
				dma_free_coherent(dev, SZ_64K, buf[i], dma[i]);
		}
	}

	/* Streaming DMA through swiotlb. */
	cpu = kzalloc(SZ_64K, GFP_KERNEL);
	for (i = 0; cpu && i < GMEM_PV_CANARY_BUFS; i++) {
		dma[0] = dma_map_single(dev, cpu, SZ_64K, DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dev, dma[0])) {
			err = -EIO;
			break;
		}
		dma_unmap_single(dev, dma[0], SZ_64K, DMA_BIDIRECTIONAL);
	}
	kfree(cpu);
out:
	mutex_unlock(&lock);
	return err;
}

static int gmem_pv_canary_get(void *data, u64 *val)
{
	*val = gmem_pv_canary_gpa;
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(gmem_pv_canary_fops, gmem_pv_canary_get,
			 gmem_pv_canary_run, "%#llx\n");

/*
 * hint_test: write N to allocate N 2 MiB blocks of private memory and
 * touch them (KVM maps them at 2 MiB: the boot hint), "cycle" to share one
 * page of each and make it private again, the way a small coherent buffer
 * is allocated and freed, and touch them again, "free" to free them.  The
 * VMM's KVM stats between the steps show whether the blocks map at 2 MiB
 * again after the cycle.
 */
#define GMEM_PV_HINT_TEST_MAX	64

static struct page *gmem_pv_hint_blocks[GMEM_PV_HINT_TEST_MAX];
static unsigned int gmem_pv_nr_hint_blocks;
static DEFINE_MUTEX(gmem_pv_hint_lock);

static void gmem_pv_touch(struct page *block)
{
	unsigned int i;

	for (i = 0; i < 1U << PMD_ORDER; i++)
		WRITE_ONCE(*(u64 *)page_address(block + i), i);
}

static void gmem_pv_hint_free(void)
{
	while (gmem_pv_nr_hint_blocks)
		__free_pages(gmem_pv_hint_blocks[--gmem_pv_nr_hint_blocks],
			     PMD_ORDER);
}

static ssize_t gmem_pv_hint_test_write(struct file *file, const char __user *ubuf,
				       size_t len, loff_t *ppos)
{
	unsigned int i, n;
	char buf[16];
	int err = 0;

	if (!gmem_pv_enabled())
		return -ENODEV;
	err = gmem_pv_copy_cmd(buf, sizeof(buf), ubuf, len);
	if (err)
		return err;
	strim(buf);

	mutex_lock(&gmem_pv_hint_lock);
	if (!strcmp(buf, "free")) {
		gmem_pv_hint_free();
	} else if (!strcmp(buf, "cycle")) {
		for (i = 0; i < gmem_pv_nr_hint_blocks && !err; i++) {
			unsigned long va = (unsigned long)
				page_address(gmem_pv_hint_blocks[i] + 1);

			err = set_memory_decrypted(va, 1);
			if (err) {
				/* Unknown state: never freed. */
				gmem_pv_hint_blocks[i] = NULL;
				break;
			}
			err = set_memory_encrypted(va, 1);
			if (err) {
				gmem_pv_hint_blocks[i] = NULL;
				break;
			}
			gmem_pv_touch(gmem_pv_hint_blocks[i]);
		}
		if (err) {
			/* Leak them all rather than sort the good from the bad. */
			gmem_pv_nr_hint_blocks = 0;
		}
	} else if (!kstrtouint(buf, 0, &n) && n <= GMEM_PV_HINT_TEST_MAX &&
		   !gmem_pv_nr_hint_blocks) {
		for (i = 0; i < n; i++) {
			struct page *block = alloc_pages(GFP_KERNEL | __GFP_NOWARN,
							 PMD_ORDER);

			if (!block) {
				err = -ENOMEM;
				break;
			}
			gmem_pv_hint_blocks[gmem_pv_nr_hint_blocks++] = block;
			gmem_pv_touch(block);
		}
		if (err)
			gmem_pv_hint_free();
	} else {
		err = -EINVAL;
	}
	mutex_unlock(&gmem_pv_hint_lock);
	return err ? err : len;
}

static const struct file_operations gmem_pv_hint_test_fops = {
	.owner	= THIS_MODULE,
	.write	= gmem_pv_hint_test_write,
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
	debugfs_create_file("shared_ranges", 0444, dir, NULL,
			    &gmem_pv_shared_ranges_fops);
	for (i = 0; i < ARRAY_SIZE(counters); i++)
		debugfs_create_file_unsafe(counters[i].name, 0444, dir,
					   counters[i].counter, &gmem_pv_counter_fops);
	/* Debugging and test aids that any root process can drive: opt-in. */
	if (IS_ENABLED(CONFIG_GMEM_PV_DEBUG)) {
		debugfs_create_file("exercise", 0200, dir, NULL,
				    &gmem_pv_exercise_fops);
		debugfs_create_file_unsafe("canary", 0600, dir, NULL,
					   &gmem_pv_canary_fops);
		debugfs_create_u64("canary_mib", 0444, dir,
				   &gmem_pv_canary_filled);
		debugfs_create_file("hint_test", 0200, dir, NULL,
				    &gmem_pv_hint_test_fops);
	}
	return 0;
}
late_initcall(gmem_pv_debugfs_init);
