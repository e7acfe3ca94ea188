/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv host tracepoints, under events/kvm_gmem_pv/ in tracefs.  Every
 * event and field is documented in Documentation/virt/kvm/x86/
 * gmem-pv-hypercalls.rst, Documentation/virt/kvm/gmem-pv-memory-attributes.rst
 * and Documentation/virt/kvm/gmem-pv-huge-mappings.rst.  Disabled, each
 * costs a static branch at its site.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kvm_gmem_pv

#if !defined(_TRACE_KVM_GMEM_PV_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_KVM_GMEM_PV_H

#include <linux/tracepoint.h>
#include <linux/kvm_gmem_pv_para.h>

/*
 * One KVM_HC_MAP_GPA_RANGE pass serviced in the kernel (a restarted request
 * traces once per pass): the range, how much of it was converted and is
 * left, RDX (bit 4 private, bits 3:0 hint), the result and the time taken.
 */
TRACE_EVENT(kvm_gmem_pv_map_gpa_range,
	    TP_PROTO(unsigned int vcpu_id, u64 gpa, u64 converted, u64 left,
		     u64 attrs, long ret, u64 ns),
	    TP_ARGS(vcpu_id, gpa, converted, left, attrs, ret, ns),

	    TP_STRUCT__entry(__field(unsigned int, vcpu_id)
			     __field(u64, gpa)
			     __field(u64, converted)
			     __field(u64, left)
			     __field(u64, attrs)
			     __field(long, ret)
			     __field(u64, ns)),

	    TP_fast_assign(__entry->vcpu_id = vcpu_id;
			   __entry->gpa = gpa;
			   __entry->converted = converted;
			   __entry->left = left;
			   __entry->attrs = attrs;
			   __entry->ret = ret;
			   __entry->ns = ns;),

	    TP_printk("vcpu %u gpa 0x%llx converted %llu left %llu to %s hint %llu ret %ld %llu ns",
		      __entry->vcpu_id, __entry->gpa, __entry->converted,
		      __entry->left,
		      (__entry->attrs & KVM_GMEM_PV_HC_PRIVATE) ? "private" : "shared",
		      __entry->attrs & KVM_GMEM_PV_HC_HINT_MASK, __entry->ret,
		      __entry->ns)
);

/*
 * One KVM_SET_MEMORY_ATTRIBUTES2 on a guest_memfd, once the argument was
 * copied in: the file's inode number, the range in bytes, the attributes
 * asked for, the content mode in effect (after KVM_GMEM_PV_HC_GUEST_OWNED
 * made a private->shared one zero), the result, and on -EAGAIN or -ENOMEM
 * the error_offset returned to the VMM (else 0).
 */
TRACE_EVENT(kvm_gmem_pv_set_attributes,
	    TP_PROTO(unsigned long ino, u64 offset, u64 size, u64 attributes,
		     u64 flags, int ret, u64 error_offset),
	    TP_ARGS(ino, offset, size, attributes, flags, ret, error_offset),

	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(u64, offset)
			     __field(u64, size)
			     __field(u64, attributes)
			     __field(u64, flags)
			     __field(int, ret)
			     __field(u64, error_offset)),

	    TP_fast_assign(__entry->ino = ino;
			   __entry->offset = offset;
			   __entry->size = size;
			   __entry->attributes = attributes;
			   __entry->flags = flags;
			   __entry->ret = ret;
			   __entry->error_offset = error_offset;),

	    TP_printk("ino %lu offset 0x%llx size 0x%llx attributes 0x%llx flags 0x%llx ret %d error_offset 0x%llx",
		      __entry->ino, __entry->offset, __entry->size,
		      __entry->attributes, __entry->flags, __entry->ret,
		      __entry->error_offset)
);

/* Who asked for a conversion that was refused. */
#define KVM_GMEM_PV_TRACE_BY_IOCTL	0	/* KVM_SET_MEMORY_ATTRIBUTES2 */
#define KVM_GMEM_PV_TRACE_BY_HYPERCALL	1	/* the guest's KVM_HC_MAP_GPA_RANGE */

/*
 * A conversion refused, as its requester sees it: one per failed ioctl,
 * one per hypercall pass that fails (after KVM's own retries of -EAGAIN).
 * @id is the guest_memfd's inode number (ioctl) or the vCPU id (hypercall);
 * @start and @size the file range in bytes (ioctl) or the GPA of the first
 * page the request did not convert and the bytes left from there
 * (hypercall); @attributes the ioctl's attributes or the hypercall's RDX;
 * @err the negative errno (ioctl) or the RAX the guest gets, the same
 * numbers; @error_offset, for -EAGAIN and -ENOMEM, the file offset returned
 * to the VMM (ioctl) or @start, where the refused step began (hypercall),
 * else 0.
 */
TRACE_EVENT_CONDITION(kvm_gmem_pv_conversion_refused,
		      TP_PROTO(unsigned int by, unsigned long id, u64 start,
			       u64 size, u64 attributes, int err,
			       u64 error_offset),
		      TP_ARGS(by, id, start, size, attributes, err, error_offset),

		      TP_CONDITION(err),

		      TP_STRUCT__entry(__field(unsigned int, by)
				       __field(unsigned long, id)
				       __field(u64, start)
				       __field(u64, size)
				       __field(u64, attributes)
				       __field(int, err)
				       __field(u64, error_offset)),

		      TP_fast_assign(__entry->by = by;
				     __entry->id = id;
				     __entry->start = start;
				     __entry->size = size;
				     __entry->attributes = attributes;
				     __entry->err = err;
				     __entry->error_offset = error_offset;),

		      TP_printk("by %s %s %lu start 0x%llx size 0x%llx attributes 0x%llx err %d error_offset 0x%llx",
				__print_symbolic(__entry->by,
						 { KVM_GMEM_PV_TRACE_BY_IOCTL, "ioctl" },
						 { KVM_GMEM_PV_TRACE_BY_HYPERCALL, "hypercall" }),
				__entry->by == KVM_GMEM_PV_TRACE_BY_IOCTL ? "ino" : "vcpu",
				__entry->id, __entry->start, __entry->size,
				__entry->attributes, __entry->err,
				__entry->error_offset)
);

/* Why gmem-pv kept a mapping smaller than KVM could otherwise have used. */
#define KVM_GMEM_PV_LIMIT_HINT		0	/* the guest's size hint (or the _HINTED default) */
#define KVM_GMEM_PV_LIMIT_MIXED		1	/* 2 MiB folio partly private, partly shared */
#define KVM_GMEM_PV_LIMIT_SPLIT_ALIGN	2	/* split slot: file and gfn not 2 MiB congruent */
#define KVM_GMEM_PV_LIMIT_SPLIT_MIXED	3	/* split slot: 2 MiB frame not all shared */
#define KVM_GMEM_PV_LIMIT_SPLIT_1G	4	/* split slot: shared frames never at 1 GiB */

/*
 * KVM asked for the level of @gfn and gmem-pv allowed less than @want
 * (x86 PG_LEVEL_*: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB): a private fault on a
 * 2 MiB folio (hint, mixed), or the level of a shared frame of a split
 * memslot (split_*), asked by a fault or by KVM's huge-page recovery.
 */
TRACE_EVENT(kvm_gmem_pv_level_limited,
	    TP_PROTO(u64 gfn, int want, int allowed, unsigned int reason),
	    TP_ARGS(gfn, want, allowed, reason),

	    TP_STRUCT__entry(__field(u64, gfn)
			     __field(int, want)
			     __field(int, allowed)
			     __field(unsigned int, reason)),

	    TP_fast_assign(__entry->gfn = gfn;
			   __entry->want = want;
			   __entry->allowed = allowed;
			   __entry->reason = reason;),

	    TP_printk("gfn 0x%llx want %d allowed %d reason %s",
		      __entry->gfn, __entry->want, __entry->allowed,
		      __print_symbolic(__entry->reason,
				       { KVM_GMEM_PV_LIMIT_HINT, "hint" },
				       { KVM_GMEM_PV_LIMIT_MIXED, "mixed" },
				       { KVM_GMEM_PV_LIMIT_SPLIT_ALIGN, "split_align" },
				       { KVM_GMEM_PV_LIMIT_SPLIT_MIXED, "split_mixed" },
				       { KVM_GMEM_PV_LIMIT_SPLIT_1G, "split_1g" }))
);

#endif /* _TRACE_KVM_GMEM_PV_H */

#include <trace/define_trace.h>
