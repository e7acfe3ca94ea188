// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv guest: run as a protected guest on a KVM software-protected VM.
 *
 * When the host sets KVM_FEATURE_GMEM_PV in the KVM CPUID leaf, every page
 * of guest memory is private (backed by guest_memfd, out of reach of host
 * userspace) until the guest asks for it to be shared.  There is no page
 * table bit to flip: a page is shared or private only in the host's
 * guest_memfd, and KVM_HC_MAP_GPA_RANGE converts it.  The kernel already
 * knows how to live with that from SEV and TDX, so the driver declares the
 * guest a confidential-computing guest (CC_VENDOR_GMEM_PV) and lets the
 * existing machinery do the rest:
 *
 *  - set_memory_decrypted()/encrypted() reach the host through the
 *    x86_platform.guest.enc_status_change_* hooks below;
 *  - DMA is bounced through swiotlb, whose pool mem_encrypt_init() shares,
 *    and dma_alloc_coherent() shares what it hands out;
 *  - virtio devices must offer VIRTIO_F_ACCESS_PLATFORM;
 *  - the pages KVM itself writes (kvmclock, steal time, async PF, PV EOI)
 *    live in the .bss..decrypted and per-CPU decrypted sections, shared
 *    here before the kernel gives their addresses to KVM.
 *
 * The host preserves contents across a conversion, and nothing destroys a
 * private page's plaintext as SEV or TDX hardware does, so every private
 * page the kernel shares through set_memory_decrypted() is cleared first:
 * no caller can publish stale private data (see gmem_pv_share_keep() for
 * the one exception).  See Documentation/virt/gmem-pv/guest.rst.
 */

#define pr_fmt(fmt) "gmem-pv: " fmt

#include <linux/cc_platform.h>
#include <linux/delay.h>
#include <linux/export.h>
#include <linux/init.h>
#include <linux/kvm_para.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/timex.h>
#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <asm/coco.h>
#include <asm/cpufeature.h>
#include <asm/e820/api.h>
#include <asm/gmem_pv.h>
#include <asm/io.h>
#include <asm/mem_encrypt.h>
#include <asm/pgtable_types.h>
#include <asm/tsc.h>
#include <asm/x86_init.h>
#include <linux/kvm_gmem_pv_para.h>

#include "gmem_pv.h"

/*
 * A host that finds a page it is asked to make private still referenced
 * (its own fault in flight on another vCPU, a VMM pin) answers EAGAIN, and
 * ENOMEM when it is short of memory.  Both are worth a few more tries; a
 * page that stays pinned is an error for the caller.  The budget is per
 * step of the range: a step that completes is progress and starts it over.
 */
#define GMEM_PV_RETRIES		8
#define GMEM_PV_RETRY_US	100
/* The host converts in all-or-nothing steps of 16 MiB, in order. */
#define GMEM_PV_STEP_PAGES	(SZ_16M >> PAGE_SHIFT)

struct gmem_pv_stats gmem_pv_stats;

/*
 * The RAM ranges hinted at boot.  A range made private again gets the hint
 * its enclosing region got then, not one its own size and alignment allow:
 * the host maps a 2 MiB region at the smallest hint of its pages, so a
 * 4 KiB hint for one page would keep the whole region at 4 KiB for good.
 */
#define GMEM_PV_MAX_HINTED	16

static struct {
	u64 start;
	u64 end;
} gmem_pv_hinted[GMEM_PV_MAX_HINTED] __ro_after_init;
static unsigned int gmem_pv_nr_hinted __ro_after_init;

static bool gmem_pv_active __ro_after_init;

/* gmem_pv=on|off|require; CONFIG_GMEM_PV_REQUIRE makes require the default. */
static enum gmem_pv_mode gmem_pv_mode __initdata =
	IS_ENABLED(CONFIG_GMEM_PV_REQUIRE) ? GMEM_PV_REQUIRE : GMEM_PV_ON;

static int __init gmem_pv_parse(char *arg)
{
	if (!arg)
		return -EINVAL;
	if (!strcmp(arg, "off"))
		gmem_pv_mode = GMEM_PV_OFF;
	else if (!strcmp(arg, "on"))
		gmem_pv_mode = GMEM_PV_ON;
	else if (!strcmp(arg, "require"))
		gmem_pv_mode = GMEM_PV_REQUIRE;
	else
		return -EINVAL;
	return 0;
}
early_param("gmem_pv", gmem_pv_parse);

/* Why the driver stayed off, for gmem_pv=require's panic. */
static const char *gmem_pv_why_off;

/**
 * gmem_pv_enabled() - is this guest a gmem-pv protected guest?
 *
 * Return: true when the host offered the feature and the driver took it.
 */
bool gmem_pv_enabled(void)
{
	return gmem_pv_active;
}
EXPORT_SYMBOL_GPL(gmem_pv_enabled);

/*
 * Alternatives are not patched yet when the first conversions are made
 * (setup_arch()), so pick the vendor's instruction by hand rather than
 * let KVM emulate the other one through #UD.
 */
VISIBLE_IF_KUNIT long gmem_pv_map_gpa_range(u64 gpa, u64 npages, u64 attrs)
{
	long ret;

	/* KUnit plays the host here (gmem_pv_range_test.c). */
	KUNIT_STATIC_STUB_REDIRECT(gmem_pv_map_gpa_range, gpa, npages, attrs);

	/*
	 * Upstream's register convention (kvm_hypercall3()): RBX, RCX and RDX
	 * are inputs only; the host resumes an interrupted request itself.
	 */
	if (boot_cpu_has(X86_FEATURE_VMMCALL))
		asm volatile("vmmcall"
			     : "=a" (ret)
			     : "0" ((long)KVM_HC_MAP_GPA_RANGE), "b" (gpa),
			       "c" (npages), "d" (attrs)
			     : "memory");
	else
		asm volatile("vmcall"
			     : "=a" (ret)
			     : "0" ((long)KVM_HC_MAP_GPA_RANGE), "b" (gpa),
			       "c" (npages), "d" (attrs)
			     : "memory");
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_map_gpa_range);

/* Bound on PIT polls, so that a machine without a PIT cannot hang here. */
#define GMEM_PV_PIT_MAX_POLLS	1000000

/*
 * Wait about @us microseconds.  The boot-time RAM hint runs before
 * tsc_early_init(), when udelay() is not calibrated and returns at once,
 * so before the TSC's rate is known the wait is timed by PIT channel 2,
 * as the TSC calibration itself does; without a PIT it is short, never
 * endless.  The host already waits up to 20 ms before it answers EAGAIN.
 */
static void gmem_pv_wait_us(unsigned long us)
{
	unsigned long latch, polls;
	u64 end;

	if (tsc_khz) {
		end = rdtsc() + (u64)tsc_khz * us / USEC_PER_MSEC;
		while (rdtsc() < end)
			cpu_relax();
		return;
	}

	latch = min(DIV_ROUND_UP(us * PIT_TICK_RATE, USEC_PER_SEC), 0xffffUL);
	outb((inb(0x61) & ~0x02) | 0x01, 0x61);	/* gate on, speaker off */
	outb(0xb0, 0x43);			/* channel 2, mode 0, binary */
	outb(latch & 0xff, 0x42);
	outb(latch >> 8, 0x42);
	for (polls = 0; !(inb(0x61) & 0x20) && polls < GMEM_PV_PIT_MAX_POLLS; polls++)
		cpu_relax();
}

/* Before retry @tries (1, 2, ...): 200 us, 400 us, ... up to 12.8 ms. */
VISIBLE_IF_KUNIT void gmem_pv_retry_wait(unsigned int tries)
{
	/* KUnit counts the waits instead of waiting. */
	KUNIT_STATIC_STUB_REDIRECT(gmem_pv_retry_wait, tries);

	gmem_pv_wait_us(GMEM_PV_RETRY_US << min(tries, 7U));
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_retry_wait);

static void gmem_pv_account(u64 done, bool private, bool hint_only)
{
	if (hint_only)
		atomic64_add(done, &gmem_pv_stats.hint_pages);
	else if (private)
		atomic64_add(done, &gmem_pv_stats.pages_unshared);
	else
		atomic64_add(done, &gmem_pv_stats.pages_shared);
}

static const char *gmem_pv_dir(bool private)
{
	return private ? "private" : "shared";
}

/*
 * One chunk: a physically contiguous range with one hint, asked for in one
 * hypercall.  RAX 0 means the whole range is in the new state.  On an
 * error the host does not say how much of it changed, so a failed range's
 * state is unknown; but the host converts in steps of 16 MiB, each all or
 * nothing, in order.  So after an error the rest of the chunk is asked for
 * step by step: each step that completes is progress the guest can see,
 * and starts the retry budget over.  A step that fails with EAGAIN or
 * ENOMEM GMEM_PV_RETRIES times in a row, or with any other error, ends the
 * chunk; *@done then says how many pages from the start are in the new
 * state, and the step after them is the one that failed.  Each step the
 * host confirms, and only those, changes the list of shared ranges.
 *
 * A step keeps the chunk's hint: it is a multiple of 2 MiB from a start
 * the hint's size aligns, as the host's own steps are.
 */
VISIBLE_IF_KUNIT int gmem_pv_convert_chunk(const struct gmem_pv_chunk *chunk,
					   bool private, bool hint_only,
					   u64 *done)
{
	u64 attrs = chunk->hint | (private ? KVM_GMEM_PV_HC_PRIVATE : 0);
	u64 gpa = chunk->gpa, left = chunk->npages, n = chunk->npages;
	unsigned int tries = 0;
	bool reserved;
	long ret = 0;
	int err = 0;

	/*
	 * Room in the list of shared ranges for what the host will confirm;
	 * without it the list could not say what is shared, so no request.
	 */
	if (gmem_pv_shared_reserve()) {
		*done = 0;
		atomic64_inc(&gmem_pv_stats.failures);
		pr_err_ratelimited("list of shared ranges full: not converting GPA range [%#llx, %#llx) to %s\n",
				   gpa, gpa + left * PAGE_SIZE,
				   gmem_pv_dir(private));
		return -ENOMEM;
	}
	reserved = true;

	while (left) {
		n = min(n, left);
		ret = gmem_pv_map_gpa_range(gpa, n, attrs);
		atomic64_inc(&gmem_pv_stats.hypercalls);

		err = gmem_pv_hc_errno(ret);
		if (!err) {
			gmem_pv_account(n, private, hint_only);
			/* Only what the host confirmed changes the list. */
			gmem_pv_shared_record(gpa, n, !private, &reserved);
			gpa += n * PAGE_SIZE;
			left -= n;
			tries = 0;
			continue;
		}
		if (n > GMEM_PV_STEP_PAGES) {
			/* The steps before the failing one may be done. */
			n = GMEM_PV_STEP_PAGES;
			continue;
		}
		if (err != -EAGAIN && err != -ENOMEM)
			break;
		if (++tries >= GMEM_PV_RETRIES)
			break;
		atomic64_inc(&gmem_pv_stats.retries);
		gmem_pv_retry_wait(tries);
	}
	gmem_pv_shared_release(&reserved);
	*done = chunk->npages - left;
	if (!left)
		return 0;

	atomic64_inc(&gmem_pv_stats.failures);
	/* The host can make every conversion fail: do not flood the log. */
	pr_err_ratelimited("converting GPA range [%#llx, %#llx) to %s failed: host error %ld (%pe)\n",
			   gpa, gpa + min(n, left) * PAGE_SIZE,
			   gmem_pv_dir(private), ret, ERR_PTR(err));
	return err;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_convert_chunk);

/*
 * The hint for @chunk on its way back to private: the one its 1 GiB or
 * 2 MiB region got at boot (the largest region around all of @chunk that
 * lies within one hinted RAM range), else the chunk's own.
 */
static unsigned int gmem_pv_region_hint(const struct gmem_pv_chunk *chunk)
{
	u64 start = chunk->gpa, end = chunk->gpa + chunk->npages * PAGE_SIZE;
	unsigned int i;

	for (i = 0; i < gmem_pv_nr_hinted; i++) {
		u64 rs = gmem_pv_hinted[i].start, re = gmem_pv_hinted[i].end;

		if (start < rs || end > re)
			continue;
		if (ALIGN_DOWN(start, SZ_1G) >= rs && ALIGN(end, SZ_1G) <= re)
			return KVM_MAP_GPA_RANGE_PAGE_SZ_1G;
		if (ALIGN_DOWN(start, SZ_2M) >= rs && ALIGN(end, SZ_2M) <= re)
			return max(chunk->hint, KVM_MAP_GPA_RANGE_PAGE_SZ_2M);
		break;
	}
	return chunk->hint;
}

/* Convert the physically contiguous range [@pa, @pa + @npages pages). */
static int gmem_pv_convert_phys(phys_addr_t pa, u64 npages, bool private,
				bool hint_only)
{
	u64 end = pa + npages * PAGE_SIZE;
	struct gmem_pv_chunk chunk;
	u64 done;
	int err;

	while (pa < end) {
		err = gmem_pv_next_chunk(pa, end, KVM_MAP_GPA_RANGE_PAGE_SZ_1G,
					 &chunk);
		if (err)
			return err;
		if (private)
			chunk.hint = gmem_pv_region_hint(&chunk);
		err = gmem_pv_convert_chunk(&chunk, private, hint_only, &done);
		if (err)
			return err;
		pa += chunk.npages * PAGE_SIZE;
	}
	return 0;
}

static u64 gmem_pv_va_to_pfn(void *ctx, unsigned long idx)
{
	return PHYS_PFN(slow_virt_to_phys((char *)ctx + idx * PAGE_SIZE));
}

/*
 * Convert @npages pages from the page-aligned kernel address @vaddr.  The
 * direct map is physically contiguous; anything else (vmalloc, fixmap) is
 * walked page by page and each contiguous run converted on its own.
 */
static int gmem_pv_convert_va(unsigned long vaddr, unsigned long npages,
			      bool private)
{
	unsigned long idx, run;
	int err;

	if (!npages)
		return 0;
	if (virt_addr_valid((void *)vaddr) &&
	    virt_addr_valid((void *)(vaddr + npages * PAGE_SIZE - 1)))
		return gmem_pv_convert_phys(__pa(vaddr), npages, private, false);

	for (idx = 0; idx < npages; idx += run) {
		run = gmem_pv_contig_run(gmem_pv_va_to_pfn, (void *)vaddr,
					 idx, npages);
		err = gmem_pv_convert_phys(PFN_PHYS(gmem_pv_va_to_pfn((void *)vaddr, idx)),
					   run, private, false);
		if (err)
			return err;
	}
	return 0;
}

/*
 * set_memory_decrypted()/encrypted() call this before they change the
 * page tables, which for gmem-pv change nothing: the conversion is the
 * whole job, and its failure stops the caller before it uses the pages.
 *
 * A page to be shared is cleared first, while it is still private.  The
 * host keeps contents, and upstream callers were written for SEV and TDX,
 * where sharing destroys them: dma-direct clears a buffer only after
 * sharing it, the atomic pools and kvmclock's pages never, so without this
 * each of them would show the host whatever the pages held (a VMM that
 * asked for conversion exits reads them with the vCPU stopped).  Clearing
 * in the guest, not asking the host to, holds with any host, one that
 * services the hypercall in userspace included.  Nothing in the kernel
 * relies on contents surviving set_memory_decrypted(), since on hardware
 * they do not.
 */
static int gmem_pv_enc_status_change_prepare(unsigned long vaddr, int npages,
					     bool enc)
{
	if (WARN_ON_ONCE(npages < 0))
		return -EINVAL;
	if (!enc)
		memset((void *)vaddr, 0, (size_t)npages << PAGE_SHIFT);
	return gmem_pv_convert_va(vaddr, npages, enc);
}

/**
 * gmem_pv_share_keep() - share pages and keep what they hold
 * @addr:	page-aligned kernel address of the first page
 * @npages:	number of pages
 *
 * set_memory_decrypted() clears what it shares; this shares @npages pages
 * from @addr with their contents, for pages the guest filled for the host
 * before sharing them.  The caller must know that nothing private is in
 * them.  As after set_memory_decrypted(), pages whose conversion failed
 * are in an unknown state and must not be freed.
 *
 * Context: where set_memory_decrypted() may be called; does not sleep.
 * Return: 0, -ENODEV when the driver is off, -EINVAL for an unaligned
 * address, or the host's error.
 */
int gmem_pv_share_keep(void *addr, unsigned long npages)
{
	if (!gmem_pv_active)
		return -ENODEV;
	if (!PAGE_ALIGNED(addr))
		return -EINVAL;
	return gmem_pv_convert_va((unsigned long)addr, npages, false);
}

static int gmem_pv_enc_status_change_finish(unsigned long vaddr, int npages,
					    bool enc)
{
	return 0;
}

/* No encryption, so no stale cache lines or TLB entries to care about. */
static bool gmem_pv_enc_tlb_flush_required(bool enc)
{
	return false;
}

static bool gmem_pv_enc_cache_flush_required(void)
{
	return false;
}

/*
 * The RAM the guest confirmed private at boot, as merged ranges, for
 * gmem_pv_verify_ram() to check memblock against; and the ranges the host
 * would not make private, set aside until gmem_pv_verify_ram() can say so
 * on the console.
 */
#define GMEM_PV_MAX_RAM_RANGES	128
#define GMEM_PV_MAX_BAD_RANGES	16

struct gmem_pv_ram_range {
	u64 start, end;
	int err;
};

static struct gmem_pv_ram_range gmem_pv_private_ram[GMEM_PV_MAX_RAM_RANGES] __initdata;
static unsigned int gmem_pv_nr_private_ram __initdata;
static struct gmem_pv_ram_range gmem_pv_bad_ram[GMEM_PV_MAX_BAD_RANGES] __initdata;
static unsigned int gmem_pv_nr_bad_ram __initdata;
static u64 gmem_pv_bad_bytes __initdata;

static void __init gmem_pv_note_private(u64 start, u64 end)
{
	unsigned int n = gmem_pv_nr_private_ram;

	if (start == end)
		return;
	if (n && gmem_pv_private_ram[n - 1].end == start) {
		gmem_pv_private_ram[n - 1].end = end;
		return;
	}
	/* Not recorded is not private: gmem_pv_verify_ram() refuses it. */
	if (n == GMEM_PV_MAX_RAM_RANGES)
		return;
	gmem_pv_private_ram[n].start = start;
	gmem_pv_private_ram[n].end = end;
	gmem_pv_nr_private_ram = n + 1;
}

static void __init gmem_pv_note_bad(u64 start, u64 end, int err)
{
	unsigned int n = gmem_pv_nr_bad_ram;

	gmem_pv_bad_bytes += end - start;
	if (n && gmem_pv_bad_ram[n - 1].end == start &&
	    gmem_pv_bad_ram[n - 1].err == err) {
		gmem_pv_bad_ram[n - 1].end = end;
		return;
	}
	/*
	 * Full: the last slot grows over the rest (e820 is sorted), private
	 * RAM between included, so that no refused range stays RAM.
	 */
	if (n == GMEM_PV_MAX_BAD_RANGES) {
		gmem_pv_bad_ram[n - 1].end = end;
		return;
	}
	gmem_pv_bad_ram[n] = (struct gmem_pv_ram_range){ start, end, err };
	gmem_pv_nr_bad_ram = n + 1;
}

/*
 * Hint [@start, @end) private, largest mapping sizes first.  What the host
 * makes private is noted; a step it will not convert is noted bad and the
 * rest of the range is still tried.
 */
static void __init gmem_pv_hint_range(u64 start, u64 end)
{
	struct gmem_pv_chunk chunk;
	u64 pa = start, done, bad_end;
	int err;

	atomic64_inc(&gmem_pv_stats.hints);
	while (pa < end) {
		if (gmem_pv_next_chunk(pa, end, KVM_MAP_GPA_RANGE_PAGE_SZ_1G,
				       &chunk)) {
			gmem_pv_note_bad(pa, end, -EINVAL);
			return;
		}
		err = gmem_pv_convert_chunk(&chunk, true, true, &done);
		gmem_pv_note_private(chunk.gpa, chunk.gpa + done * PAGE_SIZE);
		pa = chunk.gpa + chunk.npages * PAGE_SIZE;
		if (!err)
			continue;
		/* The step that failed; the chunk's next step is tried. */
		bad_end = chunk.gpa +
			  min(done + GMEM_PV_STEP_PAGES, chunk.npages) * PAGE_SIZE;
		gmem_pv_note_bad(chunk.gpa + done * PAGE_SIZE, bad_end, err);
		pa = bad_end;
	}
}

/*
 * All RAM is private when the guest starts, or should be: the VMM put it
 * there.  The hint, private bit set, is also the guest's only check that it
 * is: it succeeds only for a range that is now private in guest_memfd.  A
 * range the host does not make private (not backed by guest_memfd: EFAULT;
 * pinned by the host: EAGAIN after the retries) would be shared memory the
 * kernel uses as private.  It is taken out of the e820 map here, so that
 * memblock never hands it out, and gmem_pv_verify_ram() panics with the
 * reason as soon as the console can show it.  E820_TYPE_RAM is what
 * e820__memblock_setup() gives memblock.
 */
static void __init gmem_pv_hint_ram(void)
{
	u64 hinted = 0;
	unsigned int j;
	int i;

	for (i = 0; i < e820_table->nr_entries; i++) {
		struct e820_entry *entry = &e820_table->entries[i];
		u64 start = PAGE_ALIGN(entry->addr);
		u64 end = PAGE_ALIGN_DOWN(entry->addr + entry->size);

		if (entry->type != E820_TYPE_RAM || end <= start)
			continue;
		gmem_pv_hint_range(start, end);
		hinted += end - start;
		if (gmem_pv_nr_hinted < GMEM_PV_MAX_HINTED) {
			gmem_pv_hinted[gmem_pv_nr_hinted].start = start;
			gmem_pv_hinted[gmem_pv_nr_hinted++].end = end;
		}
	}

	for (j = 0; j < gmem_pv_nr_bad_ram; j++) {
		struct gmem_pv_ram_range *r = &gmem_pv_bad_ram[j];

		e820__range_update(r->start, r->end - r->start, E820_TYPE_RAM,
				   E820_TYPE_UNUSABLE);
	}
	if (gmem_pv_nr_bad_ram)
		e820__update_table(e820_table);

	pr_info("%llu MiB of RAM private, hinted for large mappings; %llu KiB not private\n",
		(hinted - gmem_pv_bad_bytes) >> 20, gmem_pv_bad_bytes >> 10);
}

/*
 * Refuse to run if the host did not make all RAM private.  The kernel ran
 * without the ranges it would not convert (gmem_pv_hint_ram()), so only
 * now, at the first initcall, with the console up, before SMP, devices,
 * disks or userspace, does the guest stop, saying which.
 *
 * After the hint the e820 map can still change (the kernel's own range
 * added, the BIOS range trimmed) before memblock takes it, so what memblock
 * hands out, whole pages, is also checked against what the host confirmed
 * private.
 */
static int __init gmem_pv_verify_ram(void)
{
	phys_addr_t start, end;
	unsigned int j;
	u64 i;

	if (!gmem_pv_active)
		return 0;

	for (j = 0; j < gmem_pv_nr_bad_ram; j++) {
		struct gmem_pv_ram_range *r = &gmem_pv_bad_ram[j];

		pr_emerg("RAM [%#llx, %#llx) is not private: error %d (%s)\n",
			 r->start, r->end, r->err,
			 r->err == -EFAULT ? "not backed by guest_memfd" :
			 r->err == -EAGAIN ? "pinned by the host" :
			 "the host refused");
	}
	if (gmem_pv_nr_bad_ram)
		panic("gmem-pv: %llu KiB of RAM could not be made private: refusing to run on shared RAM\n",
		      gmem_pv_bad_bytes >> 10);

	for_each_mem_range(i, &start, &end) {
		u64 s = PAGE_ALIGN(start), e = PAGE_ALIGN_DOWN(end);

		while (s < e) {
			for (j = 0; j < gmem_pv_nr_private_ram; j++) {
				if (s >= gmem_pv_private_ram[j].start &&
				    s < gmem_pv_private_ram[j].end)
					break;
			}
			if (j == gmem_pv_nr_private_ram)
				panic("gmem-pv: RAM at %#llx was never made private: refusing to run on shared RAM\n",
				      s);
			s = min(e, gmem_pv_private_ram[j].end);
		}
	}
	pr_info("all RAM checked private\n");
	return 0;
}
early_initcall(gmem_pv_verify_ram);

/*
 * A page KVM writes must be shared before its address is given to KVM; a
 * guest that cannot share it would run with a broken clock, so stop here
 * with the reason rather than later with a mystery.
 */
static void __init gmem_pv_share_or_die(phys_addr_t pa, u64 npages,
					const char *what)
{
	int err = gmem_pv_convert_phys(pa, npages, false, false);

	if (err)
		panic("gmem-pv: cannot share %s (GPA %#llx, %llu pages): %pe\n",
		      what, (u64)pa, npages, ERR_PTR(err));
}

/**
 * gmem_pv_share_each() - share pages one by one, each once in a row
 * @pfn_of:	returns the page frame of the @idx'th page
 * @ctx:	passed to @pfn_of
 * @npages:	number of pages
 * @last_pfn:	the page shared last; skipped if it comes again, updated
 *
 * The per-CPU variables KVM writes sit together in each CPU's page-aligned
 * decrypted section, and are shared one variable at a time: a page just
 * shared is not shared (and counted) again.  Each page is looked up on its
 * own, as a per-CPU area is not physically contiguous under
 * percpu_alloc=page.
 *
 * Return: 0, or the error of the first page that could not be shared.
 */
VISIBLE_IF_KUNIT int gmem_pv_share_each(gmem_pv_pfn_fn pfn_of, void *ctx,
					unsigned long npages, u64 *last_pfn)
{
	unsigned long i;
	int err;

	for (i = 0; i < npages; i++) {
		u64 pfn = pfn_of(ctx, i);

		if (pfn == *last_pfn)
			continue;
		err = gmem_pv_convert_phys(PFN_PHYS(pfn), 1, false, false);
		if (err)
			return err;
		*last_pfn = pfn;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_share_each);

/**
 * gmem_pv_early_share() - share the pages under an early kernel object
 * @ptr:	the object, in the kernel image or the per-CPU areas
 * @size:	its size in bytes
 *
 * For the per-CPU variables KVM writes (steal time, async PF, PV EOI),
 * called for each CPU before the first of them is registered with KVM.
 * Panics if a page cannot be shared: KVM would write it private.
 *
 * Context: early boot, before the page allocator.
 */
void __init gmem_pv_early_share(void *ptr, unsigned long size)
{
	static u64 last_pfn __initdata = -1ULL;
	unsigned long start = (unsigned long)ptr & PAGE_MASK;
	unsigned long npages;
	int err;

	if (!gmem_pv_active || !size)
		return;

	npages = (PAGE_ALIGN((unsigned long)ptr + size) - start) >> PAGE_SHIFT;
	err = gmem_pv_share_each(gmem_pv_va_to_pfn, (void *)start, npages,
				 &last_pfn);
	if (err)
		panic("gmem-pv: cannot share a per-CPU page KVM writes (GPA %#llx, %lu bytes): %pe\n",
		      (u64)slow_virt_to_phys(ptr), size, ERR_PTR(err));
}

/**
 * gmem_pv_decide() - whether to become a protected guest, and why not
 * @offered:	the host sets KVM_FEATURE_GMEM_PV
 * @mode:	gmem_pv= on the command line (or CONFIG_GMEM_PV_REQUIRE)
 * @encrypted:	another memory encryption (SME, SEV, TDX) is active
 * @why_off:	set to the reason when the answer is no and gmem_pv=require
 *		must panic for it; NULL when it is no because of gmem_pv=off
 *
 * Return: true to activate the driver.
 */
VISIBLE_IF_KUNIT bool gmem_pv_decide(bool offered, enum gmem_pv_mode mode,
				     bool encrypted, const char **why_off)
{
	*why_off = NULL;
	if (!offered) {
		*why_off = "the host does not offer protected memory (no KVM_FEATURE_GMEM_PV)";
		return false;
	}
	if (mode == GMEM_PV_OFF)
		return false;
	if (encrypted) {
		*why_off = "another memory encryption is active";
		return false;
	}
	return true;
}
EXPORT_SYMBOL_IF_KUNIT(gmem_pv_decide);

/**
 * gmem_pv_init_platform() - detect the host feature and become a CC guest
 *
 * Called from the KVM guest's platform setup (kvm_init_platform()), after
 * the e820 map is known and before kvmclock registers its pages.
 */
void __init gmem_pv_init_platform(void)
{
	phys_addr_t bss = __pa_symbol(__start_bss_decrypted);
	phys_addr_t bss_end = __pa_symbol(__start_bss_decrypted_unused);

	bool offered = kvm_para_has_feature(KVM_FEATURE_GMEM_PV);
	/*
	 * Every AMD CPU sets cc_vendor to CC_VENDOR_AMD early
	 * (bsp_determine_snp()), for host SNP; what matters is whether SME,
	 * SEV or TDX actually encrypts memory.
	 */
	bool encrypted = cc_platform_has(CC_ATTR_MEM_ENCRYPT);

	if (!gmem_pv_decide(offered, gmem_pv_mode, encrypted,
			    &gmem_pv_why_off)) {
		if (offered && gmem_pv_mode == GMEM_PV_OFF)
			pr_warn("host offers protected memory but gmem_pv=off: all memory stays private and devices cannot reach it\n");
		else if (offered)
			pr_warn("memory encryption (CC vendor %d) is already active; not enabling\n",
				cc_vendor);
		return;
	}

	cc_vendor = CC_VENDOR_GMEM_PV;
	x86_platform.guest.enc_status_change_prepare = gmem_pv_enc_status_change_prepare;
	x86_platform.guest.enc_status_change_finish = gmem_pv_enc_status_change_finish;
	x86_platform.guest.enc_tlb_flush_required = gmem_pv_enc_tlb_flush_required;
	x86_platform.guest.enc_cache_flush_required = gmem_pv_enc_cache_flush_required;
	gmem_pv_active = true;

	/* Hint first: nothing is shared yet, so all RAM is still private. */
	gmem_pv_hint_ram();

	if (bss_end > bss)
		gmem_pv_share_or_die(bss, PHYS_PFN(bss_end - bss),
				     ".bss..decrypted (kvmclock)");

	pr_info("protected guest: memory private by default, %llu pages shared for KVM\n",
		(u64)atomic64_read(&gmem_pv_stats.pages_shared));
}

/*
 * A guest told to require protected memory and not getting it stops here,
 * before any device driver, disk or userspace, with the reason: at the
 * first initcall rather than in gmem_pv_init_platform(), where the console
 * is not up yet.  gmem_pv_init_platform() runs only on KVM; on bare metal
 * or another hypervisor gmem_pv_why_off stays NULL.
 *
 * This guards against a VMM misconfigured to start the guest unprotected,
 * not against a hostile one: the host controls CPUID, and an unprotected
 * guest's memory, this code included, is the host's to change.
 */
static int __init gmem_pv_check_required(void)
{
	if (gmem_pv_mode == GMEM_PV_REQUIRE && !gmem_pv_active)
		panic("gmem-pv: gmem_pv=require, but %s\n",
		      gmem_pv_why_off ?: "this is not a KVM guest with protected memory");
	return 0;
}
early_initcall(gmem_pv_check_required);
