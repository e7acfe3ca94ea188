// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv host: 2 MiB guest_memfd folios and the level KVM maps them at.
 *
 * A guest_memfd created with GUEST_MEMFD_FLAG_GMEM_PV_HUGE backs each
 * 2 MiB-aligned 2 MiB range of the file with one PMD-order folio when one
 * can be had, and tells KVM (kvm_gmem_get_pfn()'s max_order) that a range
 * may be mapped at 2 MiB when it is one such folio, all its pages are in
 * one private/shared state, and the guest's size hints allow it.
 *
 * A folio whose pages are partly private and partly shared stays whole:
 * KVM maps it at 4 KiB while it is mixed (conversions zap the 2 MiB cover
 * of what they convert, see gmem_pv_convert()), and host userspace maps
 * its shared pages one PTE at a time (gmem_pv_huge_map_user()).  See
 * Documentation/virt/kvm/gmem-pv-huge-mappings.rst.
 */

#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/kvm_host.h>
#include <linux/maple_tree.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/folio_batch.h>
#include <trace/events/kvm_gmem_pv.h>

#include "gmem_pv.h"

#define GMEM_PV_HUGE_NR		BIT(PMD_ORDER)

#define GMEM_PV_HUGE_FLAGS	(GUEST_MEMFD_FLAG_GMEM_PV_HUGE | \
				 GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED)

/**
 * kvm_gmem_pv_supported_flags() - gmem-pv's guest_memfd creation flags
 * @kvm:	the VM, or NULL for /dev/kvm
 *
 * Confidential VM types have their own rules for large private mappings
 * (RMP or S-EPT levels, and making the whole folio private when it is first
 * mapped), which gmem-pv does not handle; kvm_gmem_pv_vm_owns_attributes()
 * keeps them out (kvm_arch_gmem_pv_supported()).
 *
 * Return: the GUEST_MEMFD_FLAG_GMEM_PV_* flags KVM_CREATE_GUEST_MEMFD
 * accepts for @kvm: both where guest_memfd owns the private/shared state of
 * a software-protected VM and the kernel has transparent huge pages, else
 * none.
 */
u64 kvm_gmem_pv_supported_flags(struct kvm *kvm)
{
	if (!IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) ||
	    !kvm_gmem_pv_vm_owns_attributes(kvm))
		return 0;

	return GMEM_PV_HUGE_FLAGS;
}

/*
 * Called by gmem_pv_inode_init() for a guest_memfd that owns its state.
 * The flags were checked against kvm_gmem_pv_supported_flags().
 */
int gmem_pv_huge_init(struct kvm *kvm, struct inode *inode, u64 flags)
{
	struct gmem_pv_inode *pv = kvm_gmem_pv_inode(inode);

	/* _HINTED alone changes nothing: there are no 2 MiB folios. */
	if (!(flags & GUEST_MEMFD_FLAG_GMEM_PV_HUGE))
		return 0;

	pv->huge = true;
	pv->huge_hinted = flags & GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED;
	pv->kvm = kvm;
	/*
	 * The page cache must know the file has large folios: truncation
	 * splits a partly punched one to orders between 0 and PMD_ORDER.
	 */
	mapping_set_large_folios(inode->i_mapping);
	return 0;
}

bool gmem_pv_huge(struct inode *inode)
{
	return kvm_gmem_pv_inode(inode)->huge;
}

/* Counted for the VM the file was created for, which a live file pins. */
#define gmem_pv_huge_count(pv, name)	\
	kvm_gmem_pv_stat_inc(&(pv)->kvm->stat.generic.name)

/**
 * gmem_pv_huge_get_folio() - allocate the 2 MiB folio for a page offset
 * @inode:	a guest_memfd inode
 * @index:	the page offset that is needed, not in the page cache
 * @policy:	the NUMA memory policy for @index, or NULL
 *
 * For a GUEST_MEMFD_FLAG_GMEM_PV_HUGE file whose 2 MiB range around @index
 * lies below i_size, allocate a zeroed PMD-order folio and add it to the
 * page cache for the whole range.
 *
 * Return: the folio, locked, up to date and with a reference; or NULL when
 * the caller should allocate a 4 KiB folio instead: not a huge file, the
 * range crosses i_size, the allocation failed (counted) or part of the range
 * is already in the page cache (another thread's folio, or 4 KiB folios
 * from an earlier fallback or partial punch).
 */
struct folio *gmem_pv_huge_get_folio(struct inode *inode, pgoff_t index,
				     struct mempolicy *policy)
{
	struct gmem_pv_inode *pv = kvm_gmem_pv_inode(inode);
	struct address_space *mapping = inode->i_mapping;
	pgoff_t base = round_down(index, GMEM_PV_HUGE_NR);
	struct folio *folio;
	gfp_t gfp;

	if (!pv->huge ||
	    base + GMEM_PV_HUGE_NR > (i_size_read(inode) >> PAGE_SHIFT))
		return NULL;

	/* Do not allocate 2 MiB only to find 4 KiB folios in the way. */
	if (filemap_range_has_page(mapping, (loff_t)base << PAGE_SHIFT,
				   ((loff_t)(base + GMEM_PV_HUGE_NR) << PAGE_SHIFT) - 1))
		return NULL;

	/*
	 * Try once, with light compaction, as THP faults do: a fragmented
	 * host falls back to 4 KiB folios rather than stall the guest.
	 */
	gfp = mapping_gfp_mask(mapping) | __GFP_ZERO | __GFP_NORETRY |
	      __GFP_NOWARN;
	folio = filemap_alloc_folio(gfp, PMD_ORDER, policy);
	if (!folio) {
		gmem_pv_huge_count(pv, gmem_pv_huge_fallbacks);
		return NULL;
	}

	/* Zeroed: nothing of a previous user can leak through any page. */
	folio_mark_uptodate(folio);

	if (filemap_add_folio(mapping, folio, base, mapping_gfp_mask(mapping))) {
		folio_put(folio);
		return NULL;
	}

	gmem_pv_huge_count(pv, gmem_pv_huge_folios);
	return folio;
}

/*
 * Are all pages of [@start, @start + GMEM_PV_HUGE_NR) in one state?  Equal
 * neighbours are usually one entry, but a store in place leaves them apart
 * (gmem_pv_store()): compare the values, not the entries.
 */
static bool gmem_pv_huge_uniform(struct gmem_pv_inode *pv, pgoff_t start)
{
	MA_STATE(mas, &pv->attributes, start, start);
	pgoff_t last = start + GMEM_PV_HUGE_NR - 1, next = start;
	void *entry, *first = NULL;

	rcu_read_lock();
	mas_for_each(&mas, entry, last) {
		if (mas.index > next || (first && entry != first))
			break;
		first = entry;
		next = mas.last + 1;
		if (mas.last >= last)
			break;
	}
	rcu_read_unlock();
	return next > last;
}

/*
 * The largest size hint every page of [@start, @start + GMEM_PV_HUGE_NR)
 * allows (KVM_MAP_GPA_RANGE_PAGE_SZ_*); pages never hinted take the
 * file's default.
 */
static unsigned long gmem_pv_huge_hint(struct gmem_pv_inode *pv, pgoff_t start)
{
	MA_STATE(mas, &pv->hints, start, start);
	unsigned long dflt = pv->huge_hinted ? KVM_MAP_GPA_RANGE_PAGE_SZ_4K :
					       KVM_MAP_GPA_RANGE_PAGE_SZ_2M;
	unsigned long hint = KVM_MAP_GPA_RANGE_PAGE_SZ_1G;
	pgoff_t last = start + GMEM_PV_HUGE_NR - 1;
	pgoff_t next = start;
	void *entry;

	rcu_read_lock();
	mas_for_each(&mas, entry, last) {
		if (mas.index > next)		/* a gap: never hinted */
			hint = min(hint, dflt);
		hint = min(hint, xa_to_value(entry));
		if (mas.last >= last) {
			next = last + 1;
			break;
		}
		next = mas.last + 1;
	}
	rcu_read_unlock();
	if (next <= last)
		hint = min(hint, dflt);
	return hint;
}

/**
 * gmem_pv_huge_max_order() - the order KVM may map a guest_memfd page at
 * @kvm:	the VM that faults
 * @slot:	its memslot, bound to @inode
 * @inode:	the guest_memfd inode
 * @folio:	the locked folio that holds @index
 * @index:	the page offset KVM faults on
 *
 * Return: PMD_ORDER when @folio is a PMD-order folio that the memslot maps
 * to a 2 MiB-aligned guest frame, all its pages are in one state and the
 * guest's hints (or the file's default) allow 2 MiB; else 0.  The caller
 * validates the answer against mmu_invalidate_seq: every conversion of a
 * range KVM may have mapped invalidates the 2 MiB cover of what it
 * converts, and the lookup of the faulting page marks the region as one
 * KVM may map first (gmem_pv_note_kvm_lookup()).
 */
int gmem_pv_huge_max_order(struct kvm *kvm, struct kvm_memory_slot *slot,
			   struct inode *inode, struct folio *folio,
			   pgoff_t index)
{
	struct gmem_pv_inode *pv = kvm_gmem_pv_inode(inode);
	gfn_t gfn = slot->base_gfn + index - slot->gmem.pgoff;
	unsigned long hint;

	if (!pv->huge || folio_order(folio) != PMD_ORDER)
		return 0;

	/* A poisoned page that could not be split off: 4 KiB around it. */
	if (folio_contain_hwpoisoned_page(folio))
		return 0;

	/* The guest's 2 MiB frame must be exactly this folio. */
	if ((slot->base_gfn ^ slot->gmem.pgoff) & (GMEM_PV_HUGE_NR - 1))
		return 0;

	if (!gmem_pv_huge_uniform(pv, folio->index)) {
		kvm_gmem_pv_stat_inc(&kvm->stat.generic.gmem_pv_mixed_limited_faults);
		trace_kvm_gmem_pv_level_limited(gfn, PG_LEVEL_2M, PG_LEVEL_4K,
						KVM_GMEM_PV_LIMIT_MIXED);
		return 0;
	}

	hint = gmem_pv_huge_hint(pv, folio->index);
	if (hint == KVM_MAP_GPA_RANGE_PAGE_SZ_4K) {
		kvm_gmem_pv_stat_inc(&kvm->stat.generic.gmem_pv_hint_limited_faults);
		trace_kvm_gmem_pv_level_limited(gfn, PG_LEVEL_2M, PG_LEVEL_4K,
						KVM_GMEM_PV_LIMIT_HINT);
		return 0;
	}
	/* No 1 GiB folios: a 1 GiB hint maps at 2 MiB. */
	if (hint == KVM_MAP_GPA_RANGE_PAGE_SZ_1G)
		kvm_gmem_pv_stat_inc(&kvm->stat.generic.gmem_pv_hint_1g_capped_faults);
	return PMD_ORDER;
}

/**
 * gmem_pv_huge_map_user() - map one page of a large folio for host userspace
 * @vmf:	the fault, on a shared page, with the invalidate lock held shared
 * @folio:	the locked folio holding vmf->pgoff, with a reference
 *
 * The generic fault path would map a large folio whole (by PMD, or by
 * PTEs for every page in the VMA), private pages included.  Install a PTE
 * for the faulting page only, a normal rmap'd file mapping that
 * unmap_mapping_pages() takes away before a conversion to private.  Drops
 * the folio lock and the reference.
 *
 * Return: VM_FAULT_NOPAGE, or an error.
 */
vm_fault_t gmem_pv_huge_map_user(struct vm_fault *vmf, struct folio *folio)
{
	struct page *page = folio_file_page(folio, vmf->pgoff);
	vm_fault_t ret;

	if (PageHWPoison(page))
		ret = VM_FAULT_HWPOISON;
	else
		ret = vmf_insert_page_mkwrite(vmf, page,
					      vmf->flags & FAULT_FLAG_WRITE);
	folio_unlock(folio);
	folio_put(folio);
	return ret;
}

/**
 * gmem_pv_huge_punch() - zero the pages a hole punch takes from large folios
 * @inode:	the guest_memfd inode, invalidate lock held for write
 * @start:	first page offset punched
 * @end:	page offset after the hole
 *
 * The page cache neither zeroes the punched part of a large folio of an
 * inaccessible mapping nor can it always split the folio to free it; zero
 * it here, so that what a partial punch leaves allocated reads as zeroes.
 * Folios wholly inside the hole are freed by truncation and not touched.
 */
void gmem_pv_huge_punch(struct inode *inode, pgoff_t start, pgoff_t end)
{
	struct folio_batch fbatch;
	pgoff_t index = start, i;
	unsigned int n;

	if (!gmem_pv_huge(inode))
		return;

	lockdep_assert_held_write(&inode->i_mapping->invalidate_lock);

	folio_batch_init(&fbatch);
	while (filemap_get_folios(inode->i_mapping, &index, end - 1, &fbatch)) {
		for (n = 0; n < folio_batch_count(&fbatch); n++) {
			struct folio *folio = fbatch.folios[n];
			pgoff_t first, last;

			if (!folio_test_large(folio))
				continue;

			folio_lock(folio);
			first = max(start, folio->index);
			last = min(end, folio_next_index(folio));
			/* Wholly punched ones are freed, not zeroed. */
			if (folio->mapping == inode->i_mapping &&
			    (first != folio->index ||
			     last != folio_next_index(folio))) {
				for (i = first; i < last; i++)
					clear_highpage(folio_file_page(folio, i));
			}
			folio_unlock(folio);
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
}
