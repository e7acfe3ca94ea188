/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv host: the interface between guest_memfd.c and gmem-pv's own files.
 */
#ifndef __KVM_GMEM_PV_H__
#define __KVM_GMEM_PV_H__

#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/maple_tree.h>
#include <linux/mm_types.h>

#ifdef CONFIG_KVM_GMEM_PV
/**
 * struct gmem_pv_inode - gmem-pv's part of a guest_memfd inode
 * @attributes:	the KVM_MEMORY_ATTRIBUTE_* of every page offset of the file,
 *		as xa_mk_value() ranges; adjacent equal ranges are merged, so
 *		a file in one state is one entry
 * @hints:	the mapping-size hint the guest gave for each page offset
 *		(KVM_MAP_GPA_RANGE_PAGE_SZ_*), as xa_mk_value() ranges; none
 *		where it never hinted
 * @owns_state:	@attributes is authoritative: the file was created for a VM
 *		with private memory while kvm.gmem_in_place_conversion was on
 * @huge:	GUEST_MEMFD_FLAG_GMEM_PV_HUGE: 2 MiB folios where they fit
 * @huge_hinted: GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED: ranges never hinted
 *		map at 4 KiB
 * @split:	created without GUEST_MEMFD_FLAG_MMAP, so bound only to split
 *		memslots, whose shared pages are the VMM's memory
 * @kvm:	the VM the file was created for, for the stats of @huge files;
 *		only used while a file (which pins the VM) is live
 * @user_reached: how many of the file's folios a host fault mapped since a
 *		conversion last found them clean (gmem_pv_note_user_fault());
 *		may overstate, after a hole is punched where host userspace
 *		mapped, never understate
 * @kvm_reached: one bit per 2 MiB of file offsets (GMEM_PV_REGION_SHIFT):
 *		set by every KVM fault that looked up the state of a page
 *		there (gmem_pv_note_kvm_lookup()), cleared only by a
 *		conversion that zapped the whole region; a region without it
 *		has no KVM mapping
 */
struct gmem_pv_inode {
	struct maple_tree attributes;
	struct maple_tree hints;
	atomic_long_t user_reached;
	unsigned long *kvm_reached;
	bool owns_state;
	bool huge;
	bool huge_hinted;
	bool split;
	struct kvm *kvm;
};

/* Provided by guest_memfd.c. */
struct gmem_pv_inode *kvm_gmem_pv_inode(struct inode *inode);
void kvm_gmem_invalidate_range_start(struct inode *inode, pgoff_t start,
				     pgoff_t end,
				     enum kvm_gfn_range_filter filter);
void kvm_gmem_invalidate_range_end(struct inode *inode, pgoff_t start,
				   pgoff_t end);
struct folio *kvm_gmem_pv_get_folio(struct inode *inode, pgoff_t index);
struct kvm *kvm_gmem_file_kvm(struct file *file);

/* Provided by gmem_pv_attrs.c. */
void gmem_pv_inode_alloc(struct gmem_pv_inode *pv);
void gmem_pv_inode_destroy(struct gmem_pv_inode *pv);
int gmem_pv_inode_init(struct kvm *kvm, struct inode *inode, u64 flags);
bool gmem_pv_owns_state(struct inode *inode);
bool gmem_pv_index_is_private(struct inode *inode, pgoff_t index);
void gmem_pv_note_user_fault(struct inode *inode, struct folio *folio);
long gmem_pv_ioctl(struct file *file, unsigned int ioctl, unsigned long arg);

/* Provided by gmem_pv_huge.c. */
int gmem_pv_huge_init(struct kvm *kvm, struct inode *inode, u64 flags);
bool gmem_pv_huge(struct inode *inode);
struct folio *gmem_pv_huge_get_folio(struct inode *inode, pgoff_t index,
				     struct mempolicy *policy);
int gmem_pv_huge_max_order(struct kvm *kvm, struct kvm_memory_slot *slot,
			   struct inode *inode, struct folio *folio,
			   pgoff_t index);
vm_fault_t gmem_pv_huge_map_user(struct vm_fault *vmf, struct folio *folio);
void gmem_pv_huge_punch(struct inode *inode, pgoff_t start, pgoff_t end);
#else
struct gmem_pv_inode { };

static inline void gmem_pv_inode_alloc(struct gmem_pv_inode *pv) { }
static inline void gmem_pv_inode_destroy(struct gmem_pv_inode *pv) { }
static inline int gmem_pv_inode_init(struct kvm *kvm, struct inode *inode,
				     u64 flags)
{
	return 0;
}

static inline bool gmem_pv_owns_state(struct inode *inode)
{
	return false;
}

static inline bool gmem_pv_index_is_private(struct inode *inode, pgoff_t index)
{
	return false;
}

static inline void gmem_pv_note_user_fault(struct inode *inode,
					   struct folio *folio)
{
}

static inline long gmem_pv_ioctl(struct file *file, unsigned int ioctl,
				 unsigned long arg)
{
	return -ENOTTY;
}

static inline bool gmem_pv_huge(struct inode *inode)
{
	return false;
}

static inline struct folio *gmem_pv_huge_get_folio(struct inode *inode,
						   pgoff_t index,
						   struct mempolicy *policy)
{
	return NULL;
}

static inline int gmem_pv_huge_max_order(struct kvm *kvm,
					 struct kvm_memory_slot *slot,
					 struct inode *inode,
					 struct folio *folio, pgoff_t index)
{
	return 0;
}

static inline vm_fault_t gmem_pv_huge_map_user(struct vm_fault *vmf,
					       struct folio *folio)
{
	return VM_FAULT_SIGBUS;
}

static inline void gmem_pv_huge_punch(struct inode *inode, pgoff_t start,
				      pgoff_t end)
{
}
#endif /* CONFIG_KVM_GMEM_PV */

#endif /* __KVM_GMEM_PV_H__ */
