/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv host: what KVM_SET_MEMORY_ATTRIBUTES2 traces.  The events are
 * defined in include/trace/events/kvm_gmem_pv.h and created in
 * arch/x86/kvm/gmem_pv_hc.c, in the same module.
 */
#ifndef __KVM_GMEM_PV_TRACE_H__
#define __KVM_GMEM_PV_TRACE_H__

#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <trace/events/kvm_gmem_pv.h>

/*
 * The ioctl on @inode with its argument @attrs (content mode as applied)
 * ended with @r; on -EAGAIN or -ENOMEM @err_index is the page offset
 * returned to the VMM as error_offset.  A refusal is also traced as
 * kvm_gmem_pv_conversion_refused.
 */
static inline void
gmem_pv_trace_set_attributes(struct inode *inode,
			     const struct kvm_memory_attributes2 *attrs,
			     int r, pgoff_t err_index)
{
	u64 error_offset = 0;

	if (r == -EAGAIN || r == -ENOMEM)
		error_offset = (u64)err_index << PAGE_SHIFT;

	trace_kvm_gmem_pv_set_attributes(inode->i_ino, attrs->offset,
					 attrs->size, attrs->attributes,
					 attrs->flags, r, error_offset);
	trace_kvm_gmem_pv_conversion_refused(KVM_GMEM_PV_TRACE_BY_IOCTL,
					     inode->i_ino, attrs->offset,
					     attrs->size, attrs->attributes,
					     r, error_offset);
}

#endif /* __KVM_GMEM_PV_TRACE_H__ */
