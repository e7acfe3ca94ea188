// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv guest: the x86 platform code.
 *
 * A gmem-pv guest is a confidential-computing guest to the kernel, as an
 * SEV or TDX guest is, whose private memory is private only in the host's
 * guest_memfd (see drivers/virt/gmem/ for the driver).  This is the part
 * that is x86's, kept here as SEV's and TDX's are in arch/x86/coco/:
 *
 *  - detection in kvm_init_platform() (the KVM CPUID leaf), cc_vendor
 *    CC_VENDOR_GMEM_PV (the attributes are in arch/x86/coco/core.c);
 *  - the hypercall instruction, VMMCALL or VMCALL, and the waits between
 *    retries (TSC, or PIT channel 2 before tsc_early_init());
 *  - set_memory_decrypted()/encrypted() reach the host through the
 *    x86_platform.guest.enc_status_change_* hooks below;
 *  - the boot RAM hint over the e820 map, which is also the guest's check
 *    that its RAM is private, and the check of memblock after it;
 *  - the pages KVM itself writes (kvmclock, steal time, async PF, PV EOI)
 *    live in the .bss..decrypted and per-CPU decrypted sections, shared
 *    here before the kernel gives their addresses to KVM.
 *
 * DMA is bounced through swiotlb, whose pool mem_encrypt_init() shares,
 * dma_alloc_coherent() shares what it hands out, and virtio devices must
 * offer VIRTIO_F_ACCESS_PLATFORM: the kernel's CC machinery does that.
 *
 * The host preserves contents across a conversion, and nothing destroys a
 * private page's plaintext as SEV or TDX hardware does, so every private
 * page the kernel shares through set_memory_decrypted() is cleared first:
 * no caller can publish stale private data (see gmem_pv_share_keep() for
 * the one exception).  See Documentation/virt/gmem-pv/guest.rst.
 */

#define pr_fmt(fmt) "gmem-pv: " fmt

#include <linux/cc_platform.h>
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
 * Alternatives are not patched yet when the first conversions are made
 * (setup_arch()), so pick the vendor's instruction by hand rather than
 * let KVM emulate the other one through #UD.
 */
long gmem_pv_map_gpa_range(u64 gpa, u64 npages, u64 attrs)
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
void gmem_pv_arch_wait_us(unsigned long us)
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
	if (!gmem_pv_enabled())
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
		gmem_pv_note_hinted(start, end);
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

	if (!gmem_pv_enabled())
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

	if (!gmem_pv_enabled() || !size)
		return;

	npages = (PAGE_ALIGN((unsigned long)ptr + size) - start) >> PAGE_SHIFT;
	err = gmem_pv_share_each(gmem_pv_va_to_pfn, (void *)start, npages,
				 &last_pfn);
	if (err)
		panic("gmem-pv: cannot share a per-CPU page KVM writes (GPA %#llx, %lu bytes): %pe\n",
		      (u64)slow_virt_to_phys(ptr), size, ERR_PTR(err));
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

	bool offered = kvm_para_has_feature(KVM_FEATURE_GMEM_PV);
	/*
	 * Every AMD CPU sets cc_vendor to CC_VENDOR_AMD early
	 * (bsp_determine_snp()), for host SNP; what matters is whether SME,
	 * SEV or TDX actually encrypts memory.
	 */
	bool encrypted = cc_platform_has(CC_ATTR_MEM_ENCRYPT);

	if (!gmem_pv_activate(offered, encrypted))
		return;

	cc_vendor = CC_VENDOR_GMEM_PV;
	x86_platform.guest.enc_status_change_prepare = gmem_pv_enc_status_change_prepare;
	x86_platform.guest.enc_status_change_finish = gmem_pv_enc_status_change_finish;
	x86_platform.guest.enc_tlb_flush_required = gmem_pv_enc_tlb_flush_required;
	x86_platform.guest.enc_cache_flush_required = gmem_pv_enc_cache_flush_required;

	/* Hint first: nothing is shared yet, so all RAM is still private. */
	gmem_pv_hint_ram();

	if (bss_end > bss)
		gmem_pv_share_or_die(bss, PHYS_PFN(bss_end - bss),
				     ".bss..decrypted (kvmclock)");

	pr_info("protected guest: memory private by default, %llu pages shared for KVM\n",
		(u64)atomic64_read(&gmem_pv_stats.pages_shared));
}
