// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv host: guest_memfd owns the private/shared state of its pages.
 *
 * With kvm.vm_memory_attributes=0 (alias kvm.gmem_in_place_conversion=1),
 * every guest_memfd created for a VM with private memory records, per page
 * offset, whether the page is private or shared.  The state belongs to the
 * file (the inode), not to a VM: every memslot bound to the file sees it,
 * KVM's fault path reads it through kvm_mem_is_private(), host userspace can
 * fault in shared pages only, and KVM_SET_MEMORY_ATTRIBUTES2 on the
 * guest_memfd converts ranges in place.
 *
 * The state is a maple tree of xa_mk_value(attributes) ranges indexed by page
 * offset, with an entry for every offset below i_size and adjacent equal
 * ranges merged, so a file in one state is a single entry.  Lookups are
 * lockless (RCU); changes are made under the mapping's invalidate_lock held
 * for write, which also keeps host userspace faults and fallocate() out while
 * a range changes state.  KVM's own faults are kept out by the usual
 * mmu_invalidate begin/end protocol, where KVM may have mapped the range
 * (gmem_pv_note_kvm_lookup()).
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
#include <linux/sysfs.h>
#include <linux/uaccess.h>

#include "gmem_pv.h"
#include "gmem_pv_trace.h"

/*
 * Module-wide, as upstream's in-place conversion series does it: per-VM and
 * per-guest_memfd private/shared tracking are mutually exclusive.  Off by
 * default so that a 7.3 VMM, which calls KVM_SET_MEMORY_ATTRIBUTES on the
 * VM, keeps working unchanged.
 *
 * Two read-only parameters name this one setting: upstream's spelling
 * (v13, merged for 7.4), vm_memory_attributes, which is on by default and
 * turned off to hand the state to guest_memfd, and gmem-pv's original
 * gmem_in_place_conversion, its inverse.  Given both with values that
 * disagree, the module refuses to load rather than guess which one the
 * administrator meant.
 */
bool kvm_gmem_in_place_conversion __read_mostly;
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_in_place_conversion);

static bool gmem_pv_in_place_given;

static int gmem_pv_set_in_place(bool in_place, const char *name,
				const char *other)
{
	if (gmem_pv_in_place_given && kvm_gmem_in_place_conversion != in_place) {
		pr_err("kvm: %s contradicts %s: they are one setting, inverted\n",
		       name, other);
		return -EINVAL;
	}
	gmem_pv_in_place_given = true;
	kvm_gmem_in_place_conversion = in_place;
	return 0;
}

/* A bare "name" on the command line means "name=1", as for bool parameters. */
static int gmem_pv_parse_bool(const char *val, bool *v)
{
	if (!val) {
		*v = true;
		return 0;
	}
	return kstrtobool(val, v);
}

static int gmem_pv_in_place_set(const char *val, const struct kernel_param *kp)
{
	bool v;
	int r = gmem_pv_parse_bool(val, &v);

	return r ? r : gmem_pv_set_in_place(v, kp->name, "vm_memory_attributes");
}

static int gmem_pv_in_place_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%c\n", kvm_gmem_in_place_conversion ? 'Y' : 'N');
}

static int gmem_pv_vm_attrs_set(const char *val, const struct kernel_param *kp)
{
	bool v;
	int r = gmem_pv_parse_bool(val, &v);

	return r ? r : gmem_pv_set_in_place(!v, kp->name,
					     "gmem_in_place_conversion");
}

static int gmem_pv_vm_attrs_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%c\n", kvm_gmem_in_place_conversion ? 'N' : 'Y');
}

static const struct kernel_param_ops gmem_pv_in_place_ops = {
	.flags	= KERNEL_PARAM_OPS_FL_NOARG,
	.set	= gmem_pv_in_place_set,
	.get	= gmem_pv_in_place_get,
};

static const struct kernel_param_ops gmem_pv_vm_attrs_ops = {
	.flags	= KERNEL_PARAM_OPS_FL_NOARG,
	.set	= gmem_pv_vm_attrs_set,
	.get	= gmem_pv_vm_attrs_get,
};

module_param_cb(gmem_in_place_conversion, &gmem_pv_in_place_ops, NULL, 0444);
MODULE_PARM_DESC(gmem_in_place_conversion,
		 "guest_memfd owns the private/shared state (alias of vm_memory_attributes=0)");
module_param_cb(vm_memory_attributes, &gmem_pv_vm_attrs_ops, NULL, 0444);
MODULE_PARM_DESC(vm_memory_attributes,
		 "the VM's memory attributes track private/shared (default); 0: guest_memfd does");

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
	atomic_long_set(&pv->user_reached, 0);
	pv->kvm_reached = NULL;
	pv->owns_state = false;
	pv->huge = false;
	pv->huge_hinted = false;
	pv->split = false;
	pv->kvm = NULL;
}

void gmem_pv_inode_destroy(struct gmem_pv_inode *pv)
{
	mtree_destroy(&pv->attributes);
	mtree_destroy(&pv->hints);
	/* KVM faults read it under RCU, like the trees' nodes. */
	if (pv->kvm_reached)
		kvfree_rcu_mightsleep(pv->kvm_reached);
}

/*
 * What KVM may have mapped is tracked per 2 MiB of file offsets: KVM maps
 * these VMs' guest_memfd memory at most at 2 MiB (gmem_pv_huge_max_order(),
 * kvm_gmem_pv_max_shared_level()), so a mapping covers pages of at most
 * two regions.
 */
#define GMEM_PV_REGION_SHIFT	PMD_ORDER
#define GMEM_PV_REGION_PAGES	BIT(GMEM_PV_REGION_SHIFT)

static unsigned long gmem_pv_regions(pgoff_t nr)
{
	return DIV_ROUND_UP(nr, GMEM_PV_REGION_PAGES);
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

	pv->kvm_reached = kvcalloc(BITS_TO_LONGS(gmem_pv_regions(nr)),
				   sizeof(unsigned long), GFP_KERNEL_ACCOUNT);
	if (!pv->kvm_reached)
		return -ENOMEM;

	r = gmem_pv_huge_init(kvm, inode, flags);
	if (r)
		return r;

	pv->split = !(flags & GUEST_MEMFD_FLAG_MMAP);
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
 * The inode of @slot's guest_memfd, without a file reference: the caller
 * holds kvm->srcu (the memslot stays) and rcu_read_lock() (a gmem inode and
 * its maple nodes are freed by RCU).  The file itself can be closing, and
 * files are SLAB_TYPESAFE_BY_RCU, so the struct file read may already be
 * another file's: kvm_gmem_release() clears slot->gmem.file before the
 * file is freed and a memslot is never bound again, so if the slot still
 * names the same file after its inode was read, the inode was that file's.
 *
 * Return: the inode, or NULL when the slot's file is closed (or closing).
 */
static struct inode *gmem_pv_slot_inode_rcu(const struct kvm_memory_slot *slot)
{
	struct file *file = READ_ONCE(slot->gmem.file);
	struct inode *inode;

	RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "gmem-pv: inode outside RCU");

	if (!file)
		return NULL;
	inode = READ_ONCE(file->f_inode);
	smp_rmb();	/* read f_inode before checking the file is still bound */
	if (READ_ONCE(slot->gmem.file) != file)
		return NULL;
	return inode;
}

/*
 * KVM maps a guest_memfd page only from a fault, and every KVM fault looks
 * the page's state up through kvm_mem_is_private() after it snapshots
 * mmu_invalidate_seq (kvm_mmu_faultin_pfn()), before it decides what and at
 * which level to map.  That lookup marks the regions of the fault's 2 MiB
 * guest frame, within its memslot (a huge mapping there covers them), and
 * only then reads the state, with a full barrier in between; a conversion
 * stores the new state, then, after a full barrier of its own, looks at the
 * marks (gmem_pv_convert_unreached()).  So either the conversion sees the
 * mark and invalidates as usual, or the fault reads the new state: a region
 * without a mark has no KVM mapping that a conversion must zap, nor a fault
 * under way that read the state it leaves.  A mark is cleared only inside
 * an invalidation that zapped its whole region (gmem_pv_forget_kvm()): a
 * fault that marked it before then either mapped before the zap, or is
 * sent round again by mmu_invalidate_retry_gfn(), having read
 * mmu_invalidate_seq before the mark.  KVM's shadow MMU prefetch, which
 * maps without a fault, is off for these memslots.
 */
static void gmem_pv_note_kvm_region(unsigned long *reached, pgoff_t index)
{
	unsigned long region = index >> GMEM_PV_REGION_SHIFT;

	/* The common case, a region already marked, writes nothing. */
	if (!test_bit(region, reached))
		set_bit(region, reached);
}

/* Under RCU, with the inode of @slot's guest_memfd. */
static void gmem_pv_note_kvm_lookup(struct inode *inode,
				    const struct kvm_memory_slot *slot,
				    gfn_t gfn)
{
	unsigned long *reached = kvm_gmem_pv_inode(inode)->kvm_reached;
	gfn_t frame = ALIGN_DOWN(gfn, GMEM_PV_REGION_PAGES);
	gfn_t first = max(frame, slot->base_gfn);
	gfn_t last = min(frame + GMEM_PV_REGION_PAGES,
			 slot->base_gfn + slot->npages) - 1;

	if (!reached)
		return;
	gmem_pv_note_kvm_region(reached, first - slot->base_gfn +
					 slot->gmem.pgoff);
	gmem_pv_note_kvm_region(reached, last - slot->base_gfn +
					 slot->gmem.pgoff);
	/* The mark before the state: pairs with gmem_pv_convert_unreached(). */
	smp_mb();
}

/* May KVM have mapped a page of [@start, @end)? */
static bool gmem_pv_kvm_reached(struct inode *inode, pgoff_t start,
				pgoff_t end)
{
	unsigned long *reached = kvm_gmem_pv_inode(inode)->kvm_reached;
	unsigned long last = (end - 1) >> GMEM_PV_REGION_SHIFT;

	return find_next_bit(reached, last + 1,
			     start >> GMEM_PV_REGION_SHIFT) <= last;
}

/*
 * Inside an invalidation that zapped [@start, @end): clear the marks of the
 * regions wholly inside it, one bit at a time, as KVM faults set others in
 * the same words.
 */
static void gmem_pv_forget_kvm(struct inode *inode, pgoff_t start,
			       pgoff_t end)
{
	unsigned long *reached = kvm_gmem_pv_inode(inode)->kvm_reached;
	pgoff_t size = i_size_read(inode) >> PAGE_SHIFT;
	unsigned long region = DIV_ROUND_UP(start, GMEM_PV_REGION_PAGES);
	unsigned long last = end == size ? gmem_pv_regions(size) :
			     end >> GMEM_PV_REGION_SHIFT;

	lockdep_assert_held_write(&inode->i_mapping->invalidate_lock);

	for_each_set_bit_from(region, reached, last)
		clear_bit(region, reached);
	/* Cleared before the invalidation ends (mmu_invalidate_seq moves). */
	smp_mb__after_atomic();
}

/**
 * kvm_gmem_pv_is_private() - is a guest frame private, by its guest_memfd
 * @kvm:	the VM, with kvm->srcu or slots_lock held
 * @gfn:	the guest frame
 *
 * The backend of kvm_mem_is_private() for VMs whose guest_memfds own their
 * state, on every KVM fault: no file reference is taken, the state is read
 * under RCU.  A gfn in no guest_memfd-bound memslot is shared.  A gfn whose
 * memslot's guest_memfd was closed is private: KVM then fails to fault it
 * in from guest_memfd and exits, instead of mapping a split slot's shared
 * alias where the guest believes its private memory is.  The answer can be
 * stale as soon as it is returned: callers validate it against
 * mmu_invalidate_seq, which every conversion of a range KVM may have mapped
 * bumps, and the lookup marks the range as one KVM may map
 * (gmem_pv_note_kvm_lookup()).
 *
 * Return: true if @gfn is backed by a guest_memfd page in the private state
 * or by a closed guest_memfd.
 */
bool kvm_gmem_pv_is_private(struct kvm *kvm, gfn_t gfn)
{
	struct kvm_memory_slot *slot = gfn_to_memslot(kvm, gfn);
	struct inode *inode;
	bool private;

	if (!slot || !kvm_slot_has_gmem(slot))
		return false;

	rcu_read_lock();
	inode = gmem_pv_slot_inode_rcu(slot);
	if (inode) {
		gmem_pv_note_kvm_lookup(inode, slot, gfn);
		private = gmem_pv_index_is_private(inode, gfn - slot->base_gfn +
							  slot->gmem.pgoff);
	} else {
		private = true;
	}
	rcu_read_unlock();
	return private;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_pv_is_private);

/**
 * kvm_gmem_pv_shared_range_uniform() - may KVM map shared gfns together
 * @kvm:	the VM, with kvm->srcu held
 * @slot:	a memslot bound to a guest_memfd, not guest_memfd-only
 * @gfn:	first frame of the range, in @slot
 * @npages:	frames in the range, all in @slot
 *
 * For a split memslot (guest_memfd for private pages, the VMM's memory at
 * userspace_addr for shared ones) KVM takes the level of a shared mapping
 * from the host mapping, e.g. a THP.  The VM's attributes, which would
 * forbid a huge mapping over private gfns (KVM_LPAGE_MIXED_FLAG), stay
 * all-shared while guest_memfd owns the state, so ask guest_memfd.  Every
 * conversion of such a file invalidates the 2 MiB-aligned cover of what it
 * converts (gmem_pv_invalidation_cover()), so an answer read during one is
 * retried where the memslot maps 2 MiB-aligned file ranges to 2 MiB guest
 * frames, which the caller checks.
 *
 * Return: true if every frame of the range is shared in its guest_memfd.
 */
bool kvm_gmem_pv_shared_range_uniform(struct kvm *kvm,
				      const struct kvm_memory_slot *slot,
				      gfn_t gfn, unsigned long npages)
{
	pgoff_t index = gfn - slot->base_gfn + slot->gmem.pgoff;
	struct inode *inode;
	bool uniform;

	rcu_read_lock();
	inode = gmem_pv_slot_inode_rcu(slot);
	uniform = inode && gmem_pv_range_is(gmem_pv_attributes(inode), index,
					    index + npages, 0);
	rcu_read_unlock();
	return uniform;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_pv_shared_range_uniform);

/*
 * The most pages one guest request converts at once in a file of 4 KiB
 * folios (16 MiB): each may be a folio to check for references, and the
 * request restarts between steps for a signal.
 */
#define GMEM_PV_SMALL_STEP	4096

/*
 * Store @value for [@start, @end) in @mt.  Either the whole range is stored
 * or, on -ENOMEM, nothing.  With @changed, a range that already holds @value
 * is left alone and *@changed tells which it was.
 *
 * The tree is in RCU mode (lookups are lockless), where a store that adds
 * or removes an entry writes a new node and frees the old one after a
 * grace period; only a store over exactly one existing entry's range
 * replaces that entry's value in place, with no allocation.  So:
 *  - a range that is exactly one entry is overwritten in place, not
 *    widened over equal neighbours: a guest that converts the same range
 *    back and forth (a DMA buffer, a bounce buffer) then allocates nothing
 *    after the first conversion, at the price of an entry boundary between
 *    equal values (gmem_pv_get_attributes() reports them as one extent);
 *  - any other range is widened over equal neighbours, so that the tree
 *    keeps one entry per run of equal values there, and boundaries left by
 *    in-place stores go as soon as such a store covers them.
 * An in-place store never adds an entry.  What it costs is memory: entries
 * equal to their neighbours stay until a wider store covers them, so a
 * guest that converts pages one at a time and each back again leaves up to
 * one entry per page it converted, as many as a guest that keeps every
 * other page shared makes anyway (gmem_frag_bench: about 190 bytes each).
 */
static int gmem_pv_store(struct inode *inode, struct maple_tree *mt,
			 pgoff_t start, pgoff_t end, unsigned long value,
			 bool *changed)
{
	MA_STATE(mas, mt, start, start);
	void *entry = xa_mk_value(value), *found;
	pgoff_t first = start, last = end - 1;
	int r;

	lockdep_assert_held_write(&inode->i_mapping->invalidate_lock);

	mas_lock(&mas);
	found = mas_walk(&mas);
	if (changed) {
		/* One walk both to see whether anything changes and to store. */
		*changed = found != entry ||
			   (mas.last < last &&
			    !gmem_pv_range_is(mt, mas.last + 1, end, value));
		if (!*changed) {
			mas_unlock(&mas);
			return 0;
		}
	}
	/* Still walked to that entry: the store needs no new walk. */
	if (found && mas.index == start && mas.last == end - 1)
		goto store_in_place;
	if (start) {
		mas_set(&mas, start - 1);
		if (mas_walk(&mas) == entry)
			first = mas.index;
	}
	mas_set(&mas, end);
	if (mas_walk(&mas) == entry)
		last = mas.last;
	mas_set_range(&mas, first, last);
store_in_place:
	r = mas_store_gfp(&mas, entry, GFP_KERNEL_ACCOUNT);
	mas_unlock(&mas);
	return r;
}

/*
 * Host userspace reaches a guest_memfd folio only through a mapping of the
 * file: guest_memfd has no read() or write(), and a GUP pin (O_DIRECT,
 * io_uring fixed buffers, vmsplice, vhost, KVM's own accesses through the
 * VMM's address) starts from a page table entry that a host fault put there.
 * Every such fault marks the folio first, under the invalidate lock
 * (gmem_pv_note_user_fault()), and a conversion to private, holding that
 * lock for write, clears the mark of a folio it found unmapped and
 * unreferenced.  A folio without the mark has had no host mapping since, so
 * no pin either, and needs no reference check; whatever else holds it is
 * the kernel (a KVM fault under way, which the invalidation turns back; the
 * per-CPU LRU batches; KVM's own accesses through guest_memfd).  The inode
 * counts its marked folios, so that a file with none, the common case once
 * the guest made its memory private and every file without MMAP, is not
 * even walked.
 *
 * The mark is PG_checked (PG_owner_priv_1), which a page cache folio's
 * owner may use; guest_memfd folios are not swap-backed, so it is not
 * PG_swapcache there.
 */
static bool gmem_pv_folio_user_reached(struct folio *folio)
{
	return folio_test_checked(folio);
}

/**
 * gmem_pv_note_user_fault() - record that host userspace is mapping @folio
 * @inode:	the guest_memfd's inode
 * @folio:	the folio a host fault on @inode's mapping looked up, locked
 *
 * Called by kvm_gmem_fault_user_mapping() with the invalidate lock held
 * (shared), before the folio is mapped and before the lock is dropped: a
 * conversion to private that runs afterwards checks the folio's references.
 * The folio lock orders this with the other host faults on the folio.
 */
void gmem_pv_note_user_fault(struct inode *inode, struct folio *folio)
{
	lockdep_assert_held(&inode->i_mapping->invalidate_lock);
	VM_WARN_ON_ONCE_FOLIO(!folio_test_locked(folio), folio);

	if (gmem_pv_folio_user_reached(folio))
		return;
	folio_set_checked(folio);
	atomic_long_inc(&kvm_gmem_pv_inode(inode)->user_reached);
}

/* A folio found unmapped and unreferenced, under the invalidate lock. */
static void gmem_pv_folio_forget_user(struct inode *inode, struct folio *folio)
{
	folio_clear_checked(folio);
	atomic_long_dec(&kvm_gmem_pv_inode(inode)->user_reached);
}

/*
 * Before a range becomes private, host userspace may hold none of its pages:
 * a page pinned by GUP or still mapped by a fault that raced with the unmap
 * would leave the host a way in.  The caller took every host userspace
 * mapping of the folios away (gmem_pv_unmap_folios()) and holds the
 * invalidate lock, under which host faults look folios up, so a folio host
 * userspace reached may be neither mapped nor have any reference beyond what
 * folio_expected_ref_count() accounts for, plus the batch's; one it did not
 * reach is not looked at (gmem_pv_folio_user_reached()), and a file where
 * it reached none is not walked at all.  References are the folio's, not a
 * page's: a pin on any page of a 2 MiB folio refuses the conversion of
 * every page of it, and *@err_index names the first page of the range in
 * that folio.  A folio found clean loses its mark: its next host mapping
 * starts with a fault.
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

	lockdep_assert_held_write(&mapping->invalidate_lock);

	if (!atomic_long_read(&kvm_gmem_pv_inode(mapping->host)->user_reached))
		return 0;

	folio_batch_init(&fbatch);
	while (!r && filemap_get_folios(mapping, &index, end - 1, &fbatch)) {
		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];

			if (!gmem_pv_folio_user_reached(folio))
				continue;
			/* The per-CPU LRU batches hold references too. */
			lru_cache_drain_for_folio(folio, 1, &drained);
			if (folio_mapped(folio) ||
			    folio_ref_count(folio) !=
			    folio_expected_ref_count(folio) + 1) {
				*err_index = max(start, folio->index);
				r = -EAGAIN;
				break;
			}
			gmem_pv_folio_forget_user(mapping->host, folio);
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
	return r;
}

/*
 * Take every host userspace mapping of the folios behind [@start, @end)
 * away: of a 2 MiB folio, its pages outside the range too (they refault),
 * so that what gmem_pv_check_unreferenced() reads is one number, not a map
 * count and a reference count that another thread's munmap() can move
 * apart.
 */
static void gmem_pv_unmap_folios(struct inode *inode, pgoff_t start,
				 pgoff_t end)
{
	/*
	 * Nothing maps the file (split files never are): no i_mmap walk.  A
	 * VMA that mmap() adds meanwhile has no PTE until a fault, and host
	 * faults wait for the invalidate lock, or hold a reference that
	 * gmem_pv_check_unreferenced() sees.
	 */
	if (!mapping_mapped(inode->i_mapping))
		return;

	if (gmem_pv_huge(inode)) {
		start = round_down(start, 1UL << PMD_ORDER);
		end = round_up(end, 1UL << PMD_ORDER);
	}
	unmap_mapping_pages(inode->i_mapping, start, end - start, false);
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
			  bool changed, int r)
{
	struct kvm_vm_stat_generic *stat = &kvm->stat.generic;

	kvm_gmem_pv_stat_inc(&stat->gmem_pv_conversions);
	if (r)
		kvm_gmem_pv_stat_inc(&stat->gmem_pv_conversions_refused);
	else if (!changed)
		return;
	else if (to_private)
		kvm_gmem_pv_stat_add(&stat->gmem_pv_pages_to_private, npages);
	else
		kvm_gmem_pv_stat_add(&stat->gmem_pv_pages_to_shared, npages);
}

/*
 * Hints are advisory: one that cannot be stored is dropped.  A guest hints
 * the same size for the same memory with every conversion: that needs no
 * store (and no node allocated for one).  Only a file of 2 MiB folios maps
 * at more than 4 KiB, so only there is a hint read (gmem_pv_huge_hint()),
 * and only there stored.
 */
static void gmem_pv_store_hint(struct inode *inode, pgoff_t start,
			       pgoff_t end, int hint)
{
	struct maple_tree *hints = &kvm_gmem_pv_inode(inode)->hints;

	if (!gmem_pv_huge(inode))
		return;
	if (hint >= 0 && !gmem_pv_range_is(hints, start, end, hint))
		gmem_pv_store(inode, hints, start, end, hint, NULL);
}

/*
 * The range a conversion of [*@start, *@end) invalidates in KVM, and what it
 * zaps there.  Only the mappings of the state it leaves, normally.  Where
 * KVM may have mapped, or may map, more than a page at once, the
 * invalidation covers every huge frame that holds a converted page, so that
 * the mapping is zapped and a vCPU fault anywhere in it that read the old
 * state is retried (the fault path checks only its own gfn against the
 * range being invalidated):
 *  - a file with 2 MiB folios is mapped at 2 MiB where a folio was uniform,
 *    and must be mapped at 2 MiB again where it becomes uniform: both states
 *    over the folio-aligned 2 MiB cover;
 *  - a file without MMAP is bound to split memslots, whose shared pages KVM
 *    maps at the level of the VMM's memory (a THP) where guest_memfd says
 *    the 2 MiB frame is all shared (kvm_gmem_pv_shared_range_uniform()),
 *    and only where the memslot maps 2 MiB-aligned file ranges to 2 MiB
 *    guest frames: the shared mappings over the 2 MiB-aligned cover.
 */
static void gmem_pv_invalidation_cover(struct inode *inode, pgoff_t *start,
				       pgoff_t *end,
				       enum kvm_gfn_range_filter *filter)
{
	const pgoff_t nr = 1UL << PMD_ORDER;
	pgoff_t size = i_size_read(inode) >> PAGE_SHIFT;

	if (kvm_gmem_pv_inode(inode)->split)
		*filter |= KVM_FILTER_SHARED;
	if (gmem_pv_huge(inode))
		*filter = KVM_FILTER_PRIVATE | KVM_FILTER_SHARED;
	if (kvm_gmem_pv_inode(inode)->split || gmem_pv_huge(inode)) {
		*start = round_down(*start, nr);
		*end = min(round_up(*end, nr), size);
	}
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

	if (hint < 0 || !gmem_pv_huge(inode) ||
	    gmem_pv_range_is(&pv->hints, start, end, hint))
		return;

	gmem_pv_invalidation_cover(inode, &zstart, &zend, &filter);
	kvm_gmem_invalidate_range_start(inode, zstart, zend, filter);
	gmem_pv_store_hint(inode, start, end, hint);
	kvm_gmem_invalidate_range_end(inode, zstart, zend);
}

/*
 * A conversion of a range that no KVM fault looked up since an invalidation
 * last zapped it (gmem_pv_kvm_reached()): KVM maps nothing there, so there
 * is nothing to zap and no invalidation to run, unless a fault looks the
 * range up while the state changes.  Store, then look again: a fault that
 * marked the range before that may have read the old state, and the
 * invalidation that follows zaps what it mapped or sends it round again (it
 * read mmu_invalidate_seq before the state).  Not for a content mode: a
 * range made shared is zeroed inside the invalidation, where no vCPU can
 * map it (gmem_pv_convert()).  The caller did what shared -> private needs
 * from host userspace.  A range already in the new state only records the
 * hint, as gmem_pv_convert() does.
 */
static int gmem_pv_convert_unreached(struct inode *inode, pgoff_t start,
				     pgoff_t end, unsigned long attrs,
				     int hint, pgoff_t *err_index,
				     bool *changed)
{
	bool to_private = attrs & KVM_MEMORY_ATTRIBUTE_PRIVATE;
	enum kvm_gfn_range_filter filter = to_private ? KVM_FILTER_SHARED :
							KVM_FILTER_PRIVATE;
	pgoff_t zstart = start, zend = end;
	int r;

	r = gmem_pv_store(inode, gmem_pv_attributes(inode), start, end, attrs,
			  changed);
	if (r) {
		*changed = false;
		*err_index = start;
		return r;
	}
	if (!*changed) {
		gmem_pv_update_hint(inode, start, end, hint);
		return 0;
	}
	gmem_pv_store_hint(inode, start, end, hint);

	/* The state before the mark: pairs with gmem_pv_note_kvm_lookup(). */
	smp_mb();
	if (gmem_pv_kvm_reached(inode, start, end)) {
		gmem_pv_invalidation_cover(inode, &zstart, &zend, &filter);
		kvm_gmem_invalidate_range_start(inode, zstart, zend, filter);
		kvm_gmem_invalidate_range_end(inode, zstart, zend);
	}
	return 0;
}

/*
 * Whether gmem_pv_convert_unreached() can do the whole conversion, before
 * anything else is looked at: no content mode, KVM mapped nothing in the
 * range, and for shared -> private host userspace reached no folio of the
 * file (gmem_pv_check_unreferenced() would find nothing to check, and
 * gmem_pv_unmap_folios() nothing to unmap).
 */
static bool gmem_pv_convert_needs_nothing(struct inode *inode, pgoff_t start,
					  pgoff_t end, bool to_private,
					  u64 flags)
{
	if (flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)
		return false;
	if (to_private &&
	    atomic_long_read(&kvm_gmem_pv_inode(inode)->user_reached))
		return false;
	return !gmem_pv_kvm_reached(inode, start, end);
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
 * @changed:	set to whether any page changed state, or NULL
 *
 * All or nothing: on error no page changed state.  Shared -> private first
 * takes every host userspace mapping of the range's folios away.  Then,
 * where KVM may have mapped the range (gmem_pv_kvm_reached()), KVM's
 * mappings are zapped over gmem_pv_invalidation_cover() inside an
 * mmu_invalidate begin/end; within it, shared -> private fails with -EAGAIN
 * if any folio is still referenced from outside guest_memfd, else the new
 * state is stored; the invalidation ends, which sends racing KVM faults
 * round again.  Where KVM has not, the state changes without an
 * invalidation (gmem_pv_convert_unreached()).  A range already in the new
 * state only records the hint.
 *
 * Return: 0, -EAGAIN or -ENOMEM.
 */
static int gmem_pv_convert(struct kvm *kvm, struct inode *inode, pgoff_t start,
			   pgoff_t end, unsigned long attrs, u64 flags,
			   int hint, pgoff_t *err_index, bool *changed)
{
	struct address_space *mapping = inode->i_mapping;
	bool to_private = attrs & KVM_MEMORY_ATTRIBUTE_PRIVATE;
	enum kvm_gfn_range_filter filter = to_private ? KVM_FILTER_SHARED :
							KVM_FILTER_PRIVATE;
	pgoff_t zstart = start, zend = end;
	bool did = false;
	int r = 0;

	filemap_invalidate_lock(mapping);

	if (gmem_pv_convert_needs_nothing(inode, start, end, to_private,
					  flags)) {
		r = gmem_pv_convert_unreached(inode, start, end, attrs, hint,
					      err_index, &did);
		goto out;
	}

	if (gmem_pv_range_is(gmem_pv_attributes(inode), start, end, attrs)) {
		gmem_pv_update_hint(inode, start, end, hint);
		goto out;
	}

	if (to_private)
		gmem_pv_unmap_folios(inode, start, end);

	/* Host userspace reached the file: KVM still may not have. */
	if (!(flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO) &&
	    !gmem_pv_kvm_reached(inode, start, end)) {
		if (to_private)
			r = gmem_pv_check_unreferenced(mapping, start, end,
						       err_index);
		if (!r)
			r = gmem_pv_convert_unreached(inode, start, end, attrs,
						      hint, err_index, &did);
		goto out;
	}

	gmem_pv_invalidation_cover(inode, &zstart, &zend, &filter);

	/*
	 * Invalidate before the state changes: a KVM fault in the range that
	 * read the old state, or holds a folio it looked up for it, is sent
	 * round again (mmu_invalidate_retry_gfn()).
	 */
	kvm_gmem_invalidate_range_start(inode, zstart, zend, filter);
	gmem_pv_forget_kvm(inode, zstart, zend);
	if (to_private)
		r = gmem_pv_check_unreferenced(mapping, start, end, err_index);
	if (!r) {
		r = gmem_pv_store(inode, gmem_pv_attributes(inode), start, end,
				  attrs, NULL);
		if (r)
			*err_index = start;
		else if (flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)
			gmem_pv_zero_range(mapping, start, end);
	}
	/* Inside the invalidation: a fault that read the old hint retries. */
	if (!r) {
		gmem_pv_store_hint(inode, start, end, hint);
		did = true;
	}
	kvm_gmem_invalidate_range_end(inode, zstart, zend);
out:
	filemap_invalidate_unlock(mapping);
	gmem_pv_count(kvm, end - start, to_private, did, r);
	if (changed)
		*changed = did;
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
	struct kvm *kvm = kvm_gmem_file_kvm(file);
	struct inode *inode = file_inode(file);
	struct kvm_memory_attributes2 attrs;
	pgoff_t err_index = 0;
	long r;

	if (copy_from_user(&attrs, uattrs, sizeof(attrs)))
		return -EFAULT;

	r = gmem_pv_check_attributes(inode, &attrs);
	if (r)
		goto out;

	/*
	 * Once the VMM made the guest the owner of its contents, only the
	 * guest's own hypercall shares a page with what it holds: a VMM that
	 * shares a page has it zeroed, and cannot ask to keep it.
	 */
	if (!attrs.attributes && kvm_arch_gmem_pv_guest_owned(kvm)) {
		r = -EPERM;
		if (attrs.flags & KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE)
			goto out;
		attrs.flags |= KVM_SET_MEMORY_ATTRIBUTES2_ZERO;
	}

	r = gmem_pv_convert(kvm, inode, attrs.offset >> PAGE_SHIFT,
			    (attrs.offset + attrs.size) >> PAGE_SHIFT,
			    attrs.attributes, attrs.flags, -1, &err_index, NULL);
out:
	gmem_pv_trace_set_attributes(inode, &attrs, r, err_index);
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
 *		the end of @gfn's memslot, and at most GMEM_PV_SMALL_STEP in
 *		a file of 4 KiB folios
 * @private:	convert to private (else shared)
 * @hint:	the guest's mapping-size hint (KVM_MAP_GPA_RANGE_PAGE_SZ_*) to
 *		record for the frames
 * @changed:	set to whether any frame changed state
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
			     bool private, unsigned int hint, bool *changed)
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
	if (!gmem_pv_huge(file_inode(file)))
		*npages = min_t(u64, *npages, GMEM_PV_SMALL_STEP);
	index = gfn - slot->base_gfn + slot->gmem.pgoff;
	r = gmem_pv_convert(kvm, file_inode(file), index, index + *npages,
			    private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, 0, hint,
			    &err_index, changed);
	fput(file);
	return r;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_gmem_pv_convert_gfns);

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

			/* Equal neighbours that gmem_pv_store() left apart. */
			if (n && ext[n - 1].attributes == xa_to_value(entry) &&
			    ext[n - 1].offset + ext[n - 1].size ==
			    (u64)first << PAGE_SHIFT) {
				ext[n - 1].size += (u64)(last - first + 1) << PAGE_SHIFT;
				continue;
			}
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

#ifdef CONFIG_KVM_GMEM_PV_KUNIT_TEST
#include "gmem_pv_attrs_test.c"
#endif
