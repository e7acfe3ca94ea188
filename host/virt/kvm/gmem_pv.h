/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv host: the interface between guest_memfd.c and gmem-pv's own files.
 */
#ifndef __KVM_GMEM_PV_H__
#define __KVM_GMEM_PV_H__

#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/maple_tree.h>

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
 */
struct gmem_pv_inode {
	struct maple_tree attributes;
	struct maple_tree hints;
	bool owns_state;
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
long gmem_pv_ioctl(struct file *file, unsigned int ioctl, unsigned long arg);
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

static inline long gmem_pv_ioctl(struct file *file, unsigned int ioctl,
				 unsigned long arg)
{
	return -ENOTTY;
}
#endif /* CONFIG_KVM_GMEM_PV */

#endif /* __KVM_GMEM_PV_H__ */
