// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv host: guest_memfd owns the private/shared state of its pages.
 *
 * With kvm.gmem_in_place_conversion=1, every guest_memfd created for a VM
 * with private memory records, per page offset, whether the page is private
 * or shared.  The state belongs to the file (the inode), not to a VM: every
 * memslot bound to the file sees it, KVM's fault path reads it through
 * kvm_mem_is_private(), host userspace can fault in shared pages only, and
 * KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd converts ranges in place.
 *
 * The state is a maple tree of xa_mk_value(attributes) ranges indexed by page
 * offset, with an entry for every offset below i_size and adjacent equal
 * ranges merged, so a file in one state is a single entry.  Lookups are
 * lockless (RCU); changes are made under the mapping's invalidate_lock held
 * for write, which also keeps host userspace faults and fallocate() out while
 * a range changes state.  KVM's own faults are kept out by the usual
 * mmu_invalidate begin/end protocol.
 */

#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/kvm_host.h>
#include <linux/maple_tree.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/folio_batch.h>
#include <linux/swap.h>
#include <linux/uaccess.h>

#include "gmem_pv.h"

/*
 * Module-wide, as upstream's in-place conversion series does it: per-VM and
 * per-guest_memfd private/shared tracking are mutually exclusive.  Off by
 * default so that a 7.3 VMM, which calls KVM_SET_MEMORY_ATTRIBUTES on the
 * VM, keeps working unchanged.
 */
bool kvm_gmem_in_place_conversion __read_mostly;
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_in_place_conversion);
module_param_named(gmem_in_place_conversion, kvm_gmem_in_place_conversion,
		   bool, 0444);

#define GMEM_PV_SET2_FLAGS	(KVM_SET_MEMORY_ATTRIBUTES2_ZERO | \
				 KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE)

static struct maple_tree *gmem_pv_attributes(struct inode *inode)
{
	return &kvm_gmem_pv_inode(inode)->attributes;
}

void gmem_pv_inode_alloc(struct gmem_pv_inode *pv)
{
	mt_init_flags(&pv->attributes, MT_FLAGS_USE_RCU);
	mt_init_flags(&pv->hints, MT_FLAGS_USE_RCU);
	pv->owns_state = false;
	pv->huge = false;
	pv->huge_hinted = false;
	pv->kvm = NULL;
}

void gmem_pv_inode_destroy(struct gmem_pv_inode *pv)
{
	mtree_destroy(&pv->attributes);
	mtree_destroy(&pv->hints);
}

/**
 * gmem_pv_inode_init() - give a new guest_memfd its initial state
 * @kvm:	the VM the guest_memfd is created for
 * @inode:	the guest_memfd's inode, i_size already set
 * @flags:	the GUEST_MEMFD_FLAG_* it is created with
 *
 * Every page starts shared if the file is created with
 * GUEST_MEMFD_FLAG_INIT_SHARED, private otherwise.
 *
 * Return: 0, or -ENOMEM.
 */
int gmem_pv_inode_init(struct kvm *kvm, struct inode *inode, u64 flags)
{
	struct gmem_pv_inode *pv = kvm_gmem_pv_inode(inode);
	pgoff_t nr = i_size_read(inode) >> PAGE_SHIFT;
	unsigned long attrs = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	int r;

	if (!kvm_gmem_pv_vm_owns_attributes(kvm))
		return 0;

	if (flags & GUEST_MEMFD_FLAG_INIT_SHARED)
		attrs = 0;

	r = mtree_store_range(&pv->attributes, 0, nr - 1, xa_mk_value(attrs),
			      GFP_KERNEL_ACCOUNT);
	if (r)
		return r;

	r = gmem_pv_huge_init(kvm, inode, flags);
	if (r)
		return r;

	pv->owns_state = true;
	return 0;
}

bool gmem_pv_owns_state(struct inode *inode)
{
	return kvm_gmem_pv_inode(inode)->owns_state;
}

/*
 * A missing entry cannot happen below i_size; should it ever, private is the
 * answer that keeps the host out.
 */
bool gmem_pv_index_is_private(struct inode *inode, pgoff_t index)
{
	void *entry = mtree_load(gmem_pv_attributes(inode), index);

	return !entry || (xa_to_value(entry) & KVM_MEMORY_ATTRIBUTE_PRIVATE);
}

/**
 * kvm_gmem_pv_is_private() - is a guest frame private, by its guest_memfd
 * @kvm:	the VM, with kvm->srcu or slots_lock held
 * @gfn:	the guest frame
 *
 * The backend of kvm_mem_is_private() for VMs whose guest_memfds own their
 * state.  A gfn that no guest_memfd backs is shared.  The answer can be stale
 * as soon as it is returned: callers validate it against mmu_invalidate_seq,
 * which every conversion bumps.
 *
 * Return: true if @gfn is backed by a guest_memfd page in the private state.
 */
bool kvm_gmem_pv_is_private(struct kvm *kvm, gfn_t gfn)
{
	struct kvm_memory_slot *slot = gfn_to_memslot(kvm, gfn);
	struct file *file;
	bool private;

	if (!slot || !kvm_slot_has_gmem(slot))
		return false;

	/* The slot's file may be closing: only a live file's inode will do. */
	file = get_file_active(&slot->gmem.file);
	if (!file)
		return false;

	private = gmem_pv_index_is_private(file_inode(file),
					   gfn - slot->base_gfn + slot->gmem.pgoff);
	fput(file);
	return private;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_pv_is_private);

/**
 * kvm_gmem_pv_check_extension() - gmem-pv's KVM_CHECK_EXTENSION answers
 * @kvm:	the VM, or NULL for /dev/kvm
 * @cap:	KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES,
 *		KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS or
 *		KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS
 *
 * Return: the supported attributes or flags, 0 where guest_memfd does not
 * own the state.
 */
int kvm_gmem_pv_check_extension(struct kvm *kvm, long cap)
{
	if (!kvm_gmem_pv_vm_owns_attributes(kvm))
		return 0;

	switch (cap) {
	case KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES:
		return KVM_MEMORY_ATTRIBUTE_PRIVATE;
	case KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS:
		return 1;
	case KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS:
		return GMEM_PV_SET2_FLAGS;
	default:
		return 0;
	}
}

/*
 * Does one value, @value, cover all of [@start, @end) in @mt?  A gap (a page
 * never hinted, in the hints tree) is not @value.
 */
static bool gmem_pv_range_is(struct maple_tree *mt, pgoff_t start,
			     pgoff_t end, unsigned long value)
{
	MA_STATE(mas, mt, start, start);
	void *want = xa_mk_value(value), *entry;
	pgoff_t next = start;	/* covered up to here */

	rcu_read_lock();
	mas_for_each(&mas, entry, end - 1) {
		if (entry != want || mas.index > next)
			break;
		next = mas.last + 1;
		if (next >= end)
			break;
	}
	rcu_read_unlock();
	return next >= end;
}

/*
 * Store @value for [@start, @end) in @mt, widened over equal neighbours so
 * that the tree keeps one entry per run of equal values.  Either the whole
 * range is stored or, on -ENOMEM, nothing.
 */
static int gmem_pv_store(struct inode *inode, struct maple_tree *mt,
			 pgoff_t start, pgoff_t end, unsigned long value)
{
	MA_STATE(mas, mt, start, start);
	void *entry = xa_mk_value(value);
	pgoff_t first = start, last = end - 1;
	int r;

	lockdep_assert_held_write(&inode->i_mapping->invalidate_lock);

	mas_lock(&mas);
	if (start) {
		mas_set(&mas, start - 1);
		if (mas_walk(&mas) == entry)
			first = mas.index;
	}
	mas_set(&mas, end);
	if (mas_walk(&mas) == entry)
		last = mas.last;

	mas_set_range(&mas, first, last);
	r = mas_store_gfp(&mas, entry, GFP_KERNEL_ACCOUNT);
	mas_unlock(&mas);
	return r;
}

/*
 * Before a range becomes private, nothing but guest_memfd may hold its pages:
 * a page pinned by GUP (O_DIRECT, vmsplice, vhost) or still mapped by a
 * fault that raced with the unmap would leave the host a way in.  The page
 * cache holds one reference per page, PG_private one, the batch one.
 */
static int gmem_pv_check_unreferenced(struct address_space *mapping,
				      pgoff_t start, pgoff_t end,
				      pgoff_t *err_index)
{
	enum lru_cache_drained drained = LRU_CACHE_NOT_DRAINED;
	struct folio_batch fbatch;
	pgoff_t index = start;
	unsigned int i;
	int r = 0;

	folio_batch_init(&fbatch);
	while (!r && filemap_get_folios(mapping, &index, end - 1, &fbatch)) {
		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];
			int own = folio_nr_pages(folio) +
				  folio_test_private(folio) + 1;
			int mapped = 0;

			/*
			 * A 2 MiB folio may stay mapped by host userspace at
			 * its shared pages outside the range, one reference
			 * per PTE.  The range itself was unmapped, and host
			 * faults on large folios map under the invalidate
			 * lock, which is held: what is mapped is not ours.
			 */
			if (folio_test_large(folio))
				mapped = folio_mapcount(folio);

			/* The per-CPU LRU batches hold references too. */
			lru_cache_drain_for_folio(folio, 1, &drained);
			if ((!mapped && folio_mapped(folio)) ||
			    folio_ref_count(folio) != own + mapped) {
				*err_index = max(start, folio->index);
				r = -EAGAIN;
				break;
			}
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
	return r;
}

static void gmem_pv_zero_range(struct address_space *mapping, pgoff_t start,
			       pgoff_t end)
{
	struct folio_batch fbatch;
	pgoff_t index = start, i;
	unsigned int n;

	folio_batch_init(&fbatch);
	while (filemap_get_folios(mapping, &index, end - 1, &fbatch)) {
		for (n = 0; n < folio_batch_count(&fbatch); n++) {
			struct folio *folio = fbatch.folios[n];
			pgoff_t last = min(end, folio_next_index(folio));

			folio_lock(folio);
			for (i = max(start, folio->index); i < last; i++)
				clear_highpage(folio_file_page(folio, i));
			folio_unlock(folio);
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
}

static void gmem_pv_count(struct kvm *kvm, pgoff_t npages, bool to_private,
			  int r)
{
	atomic64_inc(&kvm->stat.generic.gmem_pv_conversions);
	if (r)
		atomic64_inc(&kvm->stat.generic.gmem_pv_conversions_refused);
	else if (to_private)
		atomic64_add(npages, &kvm->stat.generic.gmem_pv_pages_to_private);
	else
		atomic64_add(npages, &kvm->stat.generic.gmem_pv_pages_to_shared);
}

/* Hints are advisory: one that cannot be stored is dropped. */
static void gmem_pv_store_hint(struct inode *inode, pgoff_t start,
			       pgoff_t end, int hint)
{
	if (hint >= 0)
		gmem_pv_store(inode, &kvm_gmem_pv_inode(inode)->hints, start,
			      end, hint);
}

/*
 * What a conversion of [*@start, *@end) must zap in KVM.  Only the mappings
 * of the state it leaves, normally.  A file with 2 MiB folios may be mapped
 * at 2 MiB where a range was uniform, and must be mapped at 2 MiB again
 * where it becomes uniform: zap both states over the 2 MiB cover, so that
 * KVM refaults it at the level the new state allows, and so that a vCPU
 * fault anywhere in the cover that read the old state is retried.
 */
static void gmem_pv_zap_range(struct inode *inode, pgoff_t *start,
			      pgoff_t *end, enum kvm_gfn_range_filter *filter)
{
	pgoff_t size = i_size_read(inode) >> PAGE_SHIFT;

	if (!gmem_pv_huge(inode))
		return;

	*start = round_down(*start, 1UL << PMD_ORDER);
	*end = min(round_up(*end, 1UL << PMD_ORDER), size);
	*filter = KVM_FILTER_PRIVATE | KVM_FILTER_SHARED;
}

/*
 * A hint for a range whose state stays.  In a file with 2 MiB folios the
 * hint sets the level KVM may map the range at, and KVM does not look at
 * it again for what it has mapped: a guest that hints 2 MiB for memory it
 * touched before (its kernel, early in boot, while unhinted pages take the
 * file's 4 KiB default) would keep those 4 KiB mappings for good, and a
 * 4 KiB hint would not break up a 2 MiB one.  Zap the 2 MiB cover of a
 * range whose hint changes, storing the hint inside the invalidation, so
 * that it refaults at the level the new hint allows.
 */
static void gmem_pv_update_hint(struct inode *inode, pgoff_t start,
				pgoff_t end, int hint)
{
	struct gmem_pv_inode *pv = kvm_gmem_pv_inode(inode);
	enum kvm_gfn_range_filter filter = KVM_FILTER_PRIVATE | KVM_FILTER_SHARED;
	pgoff_t zstart = start, zend = end;

	lockdep_assert_held_write(&inode->i_mapping->invalidate_lock);

	if (hint < 0 || gmem_pv_range_is(&pv->hints, start, end, hint))
		return;

	if (!gmem_pv_huge(inode)) {
		gmem_pv_store_hint(inode, start, end, hint);
		return;
	}

	gmem_pv_zap_range(inode, &zstart, &zend, &filter);
	kvm_gmem_invalidate_range_start(inode, zstart, zend, filter);
	gmem_pv_store_hint(inode, start, end, hint);
	kvm_gmem_invalidate_range_end(inode, zstart, zend);
}

/**
 * gmem_pv_convert() - change the state of a range of a guest_memfd
 * @kvm:	the VM that asked, for its stats
 * @inode:	the guest_memfd's inode
 * @start:	first page offset
 * @end:	page offset after the range
 * @attrs:	0 (shared) or KVM_MEMORY_ATTRIBUTE_PRIVATE
 * @flags:	KVM_SET_MEMORY_ATTRIBUTES2_* content mode
 * @hint:	the guest's mapping-size hint to record for the range, or -1
 * @err_index:	on -EAGAIN or -ENOMEM, the offset of the page that failed
 *
 * All or nothing: on error no page changed state.  Shared -> private first
 * takes every host userspace mapping of the range away.  Then KVM's
 * mappings of the old state are zapped (of both states over the 2 MiB
 * cover, for a file with 2 MiB folios) inside an mmu_invalidate begin/end;
 * within it, shared -> private fails with -EAGAIN if any page is still
 * referenced from outside guest_memfd, else the new state is stored; the
 * invalidation ends, which sends racing KVM faults round again.
 *
 * Return: 0, -EAGAIN or -ENOMEM.
 */
static int gmem_pv_convert(struct kvm *kvm, struct inode *inode, pgoff_t start,
			   pgoff_t end, unsigned long attrs, u64 flags,
			   int hint, pgoff_t *err_index)
{
	struct address_space *mapping = inode->i_mapping;
	bool to_private = attrs & KVM_MEMORY_ATTRIBUTE_PRIVATE;
	enum kvm_gfn_range_filter filter = to_private ? KVM_FILTER_SHARED :
							KVM_FILTER_PRIVATE;
	pgoff_t zstart = start, zend = end;
	int r = 0;

	filemap_invalidate_lock(mapping);

	if (gmem_pv_range_is(gmem_pv_attributes(inode), start, end, attrs)) {
		gmem_pv_update_hint(inode, start, end, hint);
		goto out;
	}

	if (to_private)
		unmap_mapping_pages(mapping, start, end - start, false);

	/*
	 * Invalidate before looking for references: a KVM fault in the range
	 * that starts from now on backs off before it takes one
	 * (mmu_invalidate_retry_gfn_unsafe()), so only faults already under
	 * way can fail the check.  That matters most for 2 MiB folios, which
	 * a fault on any of their pages holds.
	 */
	gmem_pv_zap_range(inode, &zstart, &zend, &filter);
	kvm_gmem_invalidate_range_start(inode, zstart, zend, filter);
	if (to_private)
		r = gmem_pv_check_unreferenced(mapping, start, end, err_index);
	if (!r) {
		r = gmem_pv_store(inode, gmem_pv_attributes(inode), start, end,
				  attrs);
		if (r)
			*err_index = start;
		else if (flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)
			gmem_pv_zero_range(mapping, start, end);
	}
	/* Inside the invalidation: a fault that read the old hint retries. */
	if (!r)
		gmem_pv_store_hint(inode, start, end, hint);
	kvm_gmem_invalidate_range_end(inode, zstart, zend);
out:
	filemap_invalidate_unlock(mapping);
	gmem_pv_count(kvm, end - start, to_private, r);
	return r;
}

static int gmem_pv_check_attributes(struct inode *inode,
				    const struct kvm_memory_attributes2 *attrs)
{
	u64 modes = attrs->flags & GMEM_PV_SET2_FLAGS;
	unsigned int i;

	if (attrs->flags & ~GMEM_PV_SET2_FLAGS)
		return -EINVAL;
	/* At most one content mode. */
	if (modes & (modes - 1))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(attrs->reserved); i++) {
		if (attrs->reserved[i])
			return -EINVAL;
	}
	if (attrs->attributes & ~KVM_MEMORY_ATTRIBUTE_PRIVATE)
		return -EINVAL;
	if (!attrs->size || attrs->offset + attrs->size < attrs->offset)
		return -EINVAL;
	if (!PAGE_ALIGNED(attrs->offset) || !PAGE_ALIGNED(attrs->size))
		return -EINVAL;
	if (attrs->offset + attrs->size > i_size_read(inode))
		return -EINVAL;
	return 0;
}

static long gmem_pv_set_attributes(struct file *file,
				   struct kvm_memory_attributes2 __user *uattrs)
{
	struct inode *inode = file_inode(file);
	struct kvm_memory_attributes2 attrs;
	pgoff_t err_index = 0;
	long r;

	if (copy_from_user(&attrs, uattrs, sizeof(attrs)))
		return -EFAULT;

	r = gmem_pv_check_attributes(inode, &attrs);
	if (r)
		return r;

	r = gmem_pv_convert(kvm_gmem_file_kvm(file), inode,
			    attrs.offset >> PAGE_SHIFT,
			    (attrs.offset + attrs.size) >> PAGE_SHIFT,
			    attrs.attributes, attrs.flags, -1, &err_index);
	if ((r == -EAGAIN || r == -ENOMEM) &&
	    put_user((u64)err_index << PAGE_SHIFT, &uattrs->error_offset))
		return -EFAULT;
	return r;
}

/**
 * kvm_gmem_pv_convert_gfns() - convert guest frames in place, for the guest
 * @kvm:	the VM, with kvm->srcu held; guest_memfd must own its state
 * @gfn:	first frame
 * @npages:	in: frames wanted; out: frames the call covered, at most up to
 *		the end of @gfn's memslot
 * @private:	convert to private (else shared)
 * @hint:	the guest's mapping-size hint (KVM_MAP_GPA_RANGE_PAGE_SZ_*) to
 *		record for the frames
 *
 * The in-kernel side of KVM_HC_MAP_GPA_RANGE: like KVM_SET_MEMORY_ATTRIBUTES2
 * with the platform's default content mode on the guest_memfd range behind
 * [@gfn, @gfn + *@npages) within one memslot, and the hint recorded even
 * where the state does not change.
 *
 * Return: 0; -EFAULT if @gfn is not backed by a guest_memfd; -EAGAIN if a
 * page is referenced by the host; -ENOMEM.  On error nothing was converted.
 */
int kvm_gmem_pv_convert_gfns(struct kvm *kvm, gfn_t gfn, u64 *npages,
			     bool private, unsigned int hint)
{
	struct kvm_memory_slot *slot = gfn_to_memslot(kvm, gfn);
	pgoff_t index, err_index;
	struct file *file;
	int r;

	if (!slot || !kvm_slot_has_gmem(slot))
		return -EFAULT;

	file = get_file_active(&slot->gmem.file);
	if (!file)
		return -EFAULT;

	if (WARN_ON_ONCE(!gmem_pv_owns_state(file_inode(file)))) {
		fput(file);
		return -EFAULT;
	}

	*npages = min(*npages, slot->base_gfn + slot->npages - gfn);
	index = gfn - slot->base_gfn + slot->gmem.pgoff;
	r = gmem_pv_convert(kvm, file_inode(file), index, index + *npages,
			    private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, 0, hint,
			    &err_index);
	fput(file);
	return r;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_pv_convert_gfns);

/**
 * kvm_gmem_pv_access_guest_page() - KVM's own access to guest memory
 * @slot:	the memslot of @gfn, bound to a guest_memfd
 * @gfn:	the guest frame
 * @data:	source or destination
 * @offset:	offset in the page
 * @len:	bytes, within the page
 * @write:	write @data to the page (else read it)
 *
 * KVM reads and writes guest memory itself (instruction fetch and operands
 * for emulation, page-table walks, skipping an instruction without NRIPS)
 * through the VMM's mapping, which refuses private pages.  For a private
 * page, and for any page of a guest_memfd-only memslot, go through the
 * guest_memfd folio instead: KVM, unlike host userspace, may see private
 * memory of a software-protected VM.
 *
 * Return: 0; -ENOENT when the page is not guest_memfd's to serve (state not
 * owned, or shared in a memslot with its own userspace mapping), so the
 * caller goes the usual way; -EFAULT or -EHWPOISON.
 */
int kvm_gmem_pv_access_guest_page(struct kvm_memory_slot *slot, gfn_t gfn,
				  void *data, int offset, int len, bool write)
{
	struct folio *folio;
	struct inode *inode;
	struct file *file;
	pgoff_t index;
	void *va;
	int r = 0;

	if (!kvm_gmem_in_place_conversion)
		return -ENOENT;

	file = get_file_active(&slot->gmem.file);
	if (!file)
		return -ENOENT;

	inode = file_inode(file);
	index = gfn - slot->base_gfn + slot->gmem.pgoff;
	if (!gmem_pv_owns_state(inode) ||
	    (!kvm_memslot_is_gmem_only(slot) &&
	     !gmem_pv_index_is_private(inode, index))) {
		r = -ENOENT;
		goto out;
	}

	folio = kvm_gmem_pv_get_folio(inode, index);
	if (IS_ERR(folio)) {
		r = PTR_ERR(folio) == -EHWPOISON ? -EHWPOISON : -EFAULT;
		goto out;
	}

	/* A poisoned page of a large folio that was not split. */
	if (PageHWPoison(folio_file_page(folio, index))) {
		folio_unlock(folio);
		folio_put(folio);
		r = -EHWPOISON;
		goto out;
	}

	va = kmap_local_page(folio_file_page(folio, index));
	if (write)
		memcpy(va + offset, data, len);
	else
		memcpy(data, va + offset, len);
	kunmap_local(va);
	folio_unlock(folio);
	folio_put(folio);
out:
	fput(file);
	return r;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_pv_access_guest_page);

#define GMEM_PV_MAX_EXTENTS	4096

/*
 * Collect the extents of [@start, @end) under the invalidate lock, so they
 * are one consistent state, but copy them out after dropping it: the user
 * buffer may itself be in this guest_memfd's mapping.
 */
static long gmem_pv_get_attributes(struct file *file,
				   struct kvm_memory_attributes2_query __user *uq)
{
	struct inode *inode = file_inode(file);
	struct kvm_memory_attribute_extent *ext;
	struct kvm_memory_attributes2_query q;
	pgoff_t start, end;
	unsigned int i;
	void *entry;
	u64 n = 0;
	long r = 0;

	if (copy_from_user(&q, uq, sizeof(q)))
		return -EFAULT;
	if (q.flags || !q.nr_extents || q.nr_extents > GMEM_PV_MAX_EXTENTS)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(q.reserved); i++) {
		if (q.reserved[i])
			return -EINVAL;
	}
	if (!q.size || q.offset + q.size < q.offset ||
	    !PAGE_ALIGNED(q.offset) || !PAGE_ALIGNED(q.size) ||
	    q.offset + q.size > i_size_read(inode))
		return -EINVAL;

	ext = kvmalloc_array(q.nr_extents, sizeof(*ext), GFP_KERNEL_ACCOUNT);
	if (!ext)
		return -ENOMEM;

	start = q.offset >> PAGE_SHIFT;
	end = (q.offset + q.size) >> PAGE_SHIFT;

	filemap_invalidate_lock_shared(inode->i_mapping);
	rcu_read_lock();
	{
		MA_STATE(mas, gmem_pv_attributes(inode), start, start);

		mas_for_each(&mas, entry, end - 1) {
			pgoff_t first = max(start, mas.index);
			pgoff_t last = min(end - 1, mas.last);

			if (n == q.nr_extents)
				break;
			ext[n].offset = (u64)first << PAGE_SHIFT;
			ext[n].size = (u64)(last - first + 1) << PAGE_SHIFT;
			ext[n].attributes = xa_to_value(entry);
			n++;
		}
	}
	rcu_read_unlock();
	filemap_invalidate_unlock_shared(inode->i_mapping);

	if (copy_to_user(u64_to_user_ptr(q.extents), ext, n * sizeof(*ext)) ||
	    put_user(n, &uq->nr_extents))
		r = -EFAULT;
	kvfree(ext);
	return r;
}

/**
 * gmem_pv_ioctl() - guest_memfd file ioctls
 * @file:	a guest_memfd
 * @ioctl:	KVM_SET_MEMORY_ATTRIBUTES2 or KVM_GET_MEMORY_ATTRIBUTES2
 * @arg:	struct kvm_memory_attributes2 or kvm_memory_attributes2_query
 *		__user *
 *
 * Return: as documented for each ioctl; -ENOTTY for other
 * ioctls and for guest_memfds that do not own their state.
 */
long gmem_pv_ioctl(struct file *file, unsigned int ioctl, unsigned long arg)
{
	if (!gmem_pv_owns_state(file_inode(file)))
		return -ENOTTY;

	switch (ioctl) {
	case KVM_SET_MEMORY_ATTRIBUTES2:
		return gmem_pv_set_attributes(file, (void __user *)arg);
	case KVM_GET_MEMORY_ATTRIBUTES2:
		return gmem_pv_get_attributes(file, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}
