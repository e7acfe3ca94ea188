// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv host: KVM's own accesses to guest memory that guest_memfd serves.
 *
 * KVM reads and writes guest memory itself (instruction fetch and operands
 * for emulation, page-table walks and their accessed/dirty updates, skipping
 * an instruction without NRIPS) through the VMM's mapping, which refuses
 * private pages.  For a private page, and for any page of a guest_memfd-only
 * memslot, these go to the guest_memfd folio instead: KVM, unlike host
 * userspace, may see private memory of a software-protected VM.
 */

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/kvm_host.h>
#include <linux/mm.h>
#include <linux/pagemap.h>

#include "gmem_pv.h"

/*
 * Find the locked, referenced folio behind @gfn of @slot if guest_memfd is
 * the one to serve KVM's access to it, and the page of @gfn in it.  On
 * success the caller unlocks and puts the folio and puts *@filep.
 */
static int gmem_pv_guest_page_get(struct kvm_memory_slot *slot, gfn_t gfn,
				  struct file **filep, struct folio **foliop,
				  struct page **pagep)
{
	struct folio *folio;
	struct inode *inode;
	struct file *file;
	pgoff_t index;
	int r;

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
		goto err;
	}

	folio = kvm_gmem_pv_get_folio(inode, index);
	if (IS_ERR(folio)) {
		r = PTR_ERR(folio) == -EHWPOISON ? -EHWPOISON : -EFAULT;
		goto err;
	}

	/* A poisoned page of a large folio that was not split. */
	if (PageHWPoison(folio_file_page(folio, index))) {
		folio_unlock(folio);
		folio_put(folio);
		r = -EHWPOISON;
		goto err;
	}

	*filep = file;
	*foliop = folio;
	*pagep = folio_file_page(folio, index);
	return 0;
err:
	fput(file);
	return r;
}

static void gmem_pv_guest_page_put(struct file *file, struct folio *folio)
{
	folio_unlock(folio);
	folio_put(folio);
	fput(file);
}

/**
 * kvm_gmem_pv_access_guest_page() - KVM's own access to guest memory
 * @slot:	the memslot of @gfn, bound to a guest_memfd
 * @gfn:	the guest frame
 * @data:	source or destination
 * @offset:	offset in the page
 * @len:	bytes, within the page
 * @write:	write @data to the page (else read it)
 *
 * For a private page, and for any page of a guest_memfd-only memslot, copy
 * through the guest_memfd folio rather than the VMM's mapping.
 *
 * Return: 0; -ENOENT when the page is not guest_memfd's to serve (state not
 * owned, or shared in a memslot with its own userspace mapping), so the
 * caller goes the usual way; -EFAULT or -EHWPOISON.
 */
int kvm_gmem_pv_access_guest_page(struct kvm_memory_slot *slot, gfn_t gfn,
				  void *data, int offset, int len, bool write)
{
	struct folio *folio;
	struct file *file;
	struct page *page;
	void *va;
	int r;

	r = gmem_pv_guest_page_get(slot, gfn, &file, &folio, &page);
	if (r)
		return r;

	va = kmap_local_page(page);
	if (write)
		memcpy(va + offset, data, len);
	else
		memcpy(data, va + offset, len);
	kunmap_local(va);
	gmem_pv_guest_page_put(file, folio);
	return 0;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_pv_access_guest_page);

/**
 * kvm_gmem_pv_cmpxchg_guest_page() - KVM's own compare-and-exchange in guest
 *	memory
 * @slot:	the memslot of @gfn, bound to a guest_memfd
 * @gfn:	the guest frame
 * @offset:	offset in the page, a multiple of @len
 * @old:	in: the value expected; out: the value found, if it differs
 * @new:	the value to store
 * @len:	4 or 8 bytes
 *
 * The page-table walker's accessed/dirty update of a guest PTE, on the
 * memory the PTE was read from: the guest_memfd folio for the pages that
 * kvm_gmem_pv_access_guest_page() serves.  The exchange is atomic against
 * the guest's own accesses, which go to the same page.  The caller marks
 * the page dirty.
 *
 * Return: 0 if @new was stored; 1 if the page held another value, now in
 * *@old; -ENOENT when the page is not guest_memfd's to serve, so the caller
 * goes through the VMM's mapping; -EINVAL for a bad @len or @offset;
 * -EFAULT or -EHWPOISON.
 */
int kvm_gmem_pv_cmpxchg_guest_page(struct kvm_memory_slot *slot, gfn_t gfn,
				   int offset, void *old, u64 new, int len)
{
	struct folio *folio;
	struct file *file;
	struct page *page;
	bool done;
	void *va;
	int r;

	if (WARN_ON_ONCE((len != 4 && len != 8) || offset < 0 ||
			 offset % len || offset + len > PAGE_SIZE))
		return -EINVAL;

	r = gmem_pv_guest_page_get(slot, gfn, &file, &folio, &page);
	if (r)
		return r;

	va = kmap_local_page(page);
	if (len == 8)
		done = try_cmpxchg64((u64 *)(va + offset), (u64 *)old, new);
	else
		done = try_cmpxchg((u32 *)(va + offset), (u32 *)old, (u32)new);
	kunmap_local(va);
	gmem_pv_guest_page_put(file, folio);
	return done ? 0 : 1;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_pv_cmpxchg_guest_page);
