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
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <asm/coco.h>
#include <asm/cpufeature.h>
#include <asm/e820/api.h>
#include <asm/gmem_pv.h>
#include <asm/mem_encrypt.h>
#include <asm/pgtable_types.h>
#include <asm/x86_init.h>
#include <linux/kvm_gmem_pv_para.h>

#include "gmem_pv.h"

/*
 * A host that finds a page it is asked to make private still referenced
 * (its own fault in flight on another vCPU, a VMM pin) answers EAGAIN, and
 * ENOMEM when it is short of memory.  Both are worth a few more tries; a
 * page that stays pinned is an error for the caller.
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
static enum {
	GMEM_PV_ON,
	GMEM_PV_OFF,
	GMEM_PV_REQUIRE,
} gmem_pv_mode __initdata =
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
static char *gmem_pv_why_off __initdata;

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
static long gmem_pv_map_gpa_range(u64 gpa, u64 npages, u64 attrs)
{
	long ret;

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
 * One hypercall's worth: a physically contiguous range with one hint.  RAX
 * 0 means the whole range is in the new state; on an error the host does
 * not say how much of it changed, so a failed range's state is unknown.
 */
static int gmem_pv_convert_chunk(const struct gmem_pv_chunk *chunk,
				 bool private, bool hint_only)
{
	u64 attrs = chunk->hint | (private ? KVM_GMEM_PV_HC_PRIVATE : 0);
	unsigned int tries = 0;
	long ret;
	int err;

	for (;;) {
		ret = gmem_pv_map_gpa_range(chunk->gpa, chunk->npages, attrs);
		atomic64_inc(&gmem_pv_stats.hypercalls);

		err = gmem_pv_hc_errno(ret);
		if (!err) {
			gmem_pv_account(chunk->npages, private, hint_only);
			return 0;
		}
		if ((err != -EAGAIN && err != -ENOMEM) ||
		    ++tries >= GMEM_PV_RETRIES)
			break;
		udelay(GMEM_PV_RETRY_US);
	}

	atomic64_inc(&gmem_pv_stats.failures);
	/* The host can make every conversion fail: do not flood the log. */
	pr_err_ratelimited("converting GPA range [%#llx, %#llx) to %s failed: host error %ld (%pe)\n",
			   chunk->gpa, chunk->gpa + chunk->npages * PAGE_SIZE,
			   gmem_pv_dir(private), ret, ERR_PTR(err));
	return err;
}

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
	int err;

	while (pa < end) {
		err = gmem_pv_next_chunk(pa, end, KVM_MAP_GPA_RANGE_PAGE_SZ_1G,
					 &chunk);
		if (err)
			return err;
		if (private)
			chunk.hint = gmem_pv_region_hint(&chunk);
		err = gmem_pv_convert_chunk(&chunk, private, hint_only);
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
 * gmem_pv_hint_private() - ask for large host mappings of a private range
 * @pa:		start of the range, page aligned
 * @size:	size of the range in bytes, page aligned
 *
 * Issues KVM_HC_MAP_GPA_RANGE with the private bit and the largest size
 * hint each part's alignment allows.  For a private range that changes no
 * state and only tells the host the guest wants huge mappings there; a
 * shared page in the range becomes private, so call it only for memory no
 * device uses.
 *
 * Context: early boot; does not sleep.
 * Return: 0; -ENODEV when this is not a gmem-pv guest; -EINVAL for an
 * unaligned or empty range; or the host's error (see gmem_pv_hc_errno()).
 */
static int __init gmem_pv_hint_private(phys_addr_t pa, size_t size)
{
	if (!gmem_pv_active)
		return -ENODEV;
	if (!size || !PAGE_ALIGNED(pa | size) || pa + size < pa)
		return -EINVAL;

	atomic64_inc(&gmem_pv_stats.hints);
	return gmem_pv_convert_phys(pa, size >> PAGE_SHIFT, true, true);
}

/* All RAM is private when the guest starts: hint the host to map it huge. */
static void __init gmem_pv_hint_ram(void)
{
	u64 hinted = 0;
	int i, err;

	for (i = 0; i < e820_table->nr_entries; i++) {
		struct e820_entry *entry = &e820_table->entries[i];
		u64 start = PAGE_ALIGN(entry->addr);
		u64 end = PAGE_ALIGN_DOWN(entry->addr + entry->size);

		if (entry->type != E820_TYPE_RAM || end <= start)
			continue;

		err = gmem_pv_hint_private(start, end - start);
		if (err) {
			/* Only a hint: the guest runs on with small mappings. */
			pr_warn("mapping-size hint for RAM [%#llx, %#llx) failed: %pe\n",
				start, end, ERR_PTR(err));
			continue;
		}
		hinted += end - start;
		if (gmem_pv_nr_hinted < GMEM_PV_MAX_HINTED) {
			gmem_pv_hinted[gmem_pv_nr_hinted].start = start;
			gmem_pv_hinted[gmem_pv_nr_hinted++].end = end;
		}
	}
	pr_info("hinted %llu MiB of private RAM for large mappings\n",
		hinted >> 20);
}

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
 * gmem_pv_early_share() - share the pages under an early kernel object
 * @ptr:	the object, in the kernel image or the per-CPU areas
 * @size:	its size in bytes
 *
 * For the per-CPU variables KVM writes (steal time, async PF, PV EOI),
 * called for each CPU before the first of them is registered with KVM.
 * They sit together in the page-aligned per-CPU decrypted section, so the
 * page just shared is remembered and not shared (and counted) again.
 *
 * Context: early boot, before the page allocator.
 */
void __init gmem_pv_early_share(void *ptr, unsigned long size)
{
	static u64 last_pfn = -1ULL;
	u64 first, last;

	if (!gmem_pv_active || !size)
		return;

	first = PHYS_PFN(slow_virt_to_phys(ptr));
	last = PHYS_PFN(slow_virt_to_phys((char *)ptr + size - 1));
	/* The per-CPU area is contiguous in the direct map. */
	if (WARN_ON_ONCE(last < first))
		return;
	if (first == last && first == last_pfn)
		return;

	gmem_pv_share_or_die(PFN_PHYS(first), last - first + 1,
			     "a per-CPU page KVM writes");
	last_pfn = last;
}

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

	if (!kvm_para_has_feature(KVM_FEATURE_GMEM_PV)) {
		gmem_pv_why_off =
			"the host does not offer protected memory (no KVM_FEATURE_GMEM_PV)";
		return;
	}
	if (gmem_pv_mode == GMEM_PV_OFF) {
		pr_warn("host offers protected memory but gmem_pv=off: all memory stays private and devices cannot reach it\n");
		return;
	}
	/*
	 * Every AMD CPU sets cc_vendor to CC_VENDOR_AMD early
	 * (bsp_determine_snp()), for host SNP; what matters is whether SME,
	 * SEV or TDX actually encrypts memory.
	 */
	if (cc_platform_has(CC_ATTR_MEM_ENCRYPT)) {
		gmem_pv_why_off = "another memory encryption is active";
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
