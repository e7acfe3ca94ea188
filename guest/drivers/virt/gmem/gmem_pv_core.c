// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv guest: the generic part of the driver.
 *
 * When the host offers protected memory (KVM_FEATURE_GMEM_PV), every page
 * of guest memory is private (backed by guest_memfd, out of reach of host
 * userspace) until the guest asks for it to be shared.  There is no page
 * table bit to flip: a page is shared or private only in the host's
 * guest_memfd, and KVM_HC_MAP_GPA_RANGE converts it.
 *
 * This file is what does not depend on the platform: whether to become a
 * protected guest (gmem_pv= and the decision), and the conversion loop
 * that carves a physical range into hypercalls, retries, records what the
 * host confirmed (gmem_pv_shared.c) and counts it.  The x86 platform code,
 * the hypercall instruction, the set_memory_decrypted() hooks, the boot
 * RAM check against e820 and memblock, and the early sharing of the pages
 * KVM writes, is in arch/x86/coco/gmem_pv/, as SEV's and TDX's are in
 * arch/x86/coco/.  See Documentation/virt/gmem-pv/guest.rst.
 */

#define pr_fmt(fmt) "gmem-pv: " fmt

#include <linux/export.h>
#include <linux/init.h>
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <asm/gmem_pv.h>
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

/**
 * gmem_pv_note_hinted() - remember a RAM range hinted at boot
 * @start:	start of the range
 * @end:	end of the range (exclusive)
 *
 * The platform code calls it for each RAM range it hinted private, so
 * that a range made private again gets its boot region's hint.  Beyond
 * GMEM_PV_MAX_HINTED ranges, a range's own hint is used.
 */
void __init gmem_pv_note_hinted(u64 start, u64 end)
{
	if (gmem_pv_nr_hinted < GMEM_PV_MAX_HINTED) {
		gmem_pv_hinted[gmem_pv_nr_hinted].start = start;
		gmem_pv_hinted[gmem_pv_nr_hinted++].end = end;
	}
}

/* Before retry @tries (1, 2, ...): 200 us, 400 us, ... up to 12.8 ms. */
VISIBLE_IF_KUNIT void gmem_pv_retry_wait(unsigned int tries)
{
	/* KUnit counts the waits instead of waiting. */
	KUNIT_STATIC_STUB_REDIRECT(gmem_pv_retry_wait, tries);

	gmem_pv_arch_wait_us(GMEM_PV_RETRY_US << min(tries, 7U));
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
int gmem_pv_convert_chunk(const struct gmem_pv_chunk *chunk, bool private,
			  bool hint_only, u64 *done)
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

/**
 * gmem_pv_convert_phys() - convert a physically contiguous range
 * @pa:		first page, page aligned
 * @npages:	number of pages
 * @private:	to private (else to shared)
 * @hint_only:	a boot-time hint of RAM that should already be private
 *
 * Return: 0, or the error of the first chunk that failed; the chunks
 * before it are converted.
 */
int gmem_pv_convert_phys(phys_addr_t pa, u64 npages, bool private,
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
int gmem_pv_share_each(gmem_pv_pfn_fn pfn_of, void *ctx,
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
 * gmem_pv_activate() - decide whether to become a protected guest
 * @offered:	the host sets KVM_FEATURE_GMEM_PV
 * @encrypted:	another memory encryption (SME, SEV, TDX) is active
 *
 * Called once by the platform code, early in boot.  On yes the driver is
 * active from now on; the caller then installs its hooks.
 *
 * Return: true to go on as a protected guest.
 */
bool __init gmem_pv_activate(bool offered, bool encrypted)
{
	if (!gmem_pv_decide(offered, gmem_pv_mode, encrypted,
			    &gmem_pv_why_off)) {
		if (offered && gmem_pv_mode == GMEM_PV_OFF)
			pr_warn("host offers protected memory but gmem_pv=off: all memory stays private and devices cannot reach it\n");
		else if (offered)
			pr_warn("another memory encryption is already active; not enabling\n");
		return false;
	}
	gmem_pv_active = true;
	return true;
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
