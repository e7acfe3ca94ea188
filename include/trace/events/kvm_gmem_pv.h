/* SPDX-License-Identifier: GPL-2.0-only */
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

#endif /* _TRACE_KVM_GMEM_PV_H */

#include <trace/define_trace.h>
