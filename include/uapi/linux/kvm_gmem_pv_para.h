/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * gmem-pv: the guest-visible half of the ABI (CPUID bit, hypercall
 * encoding and return codes).  Shared by the guest driver, the host and
 * VMMs; see Documentation/virt/kvm/x86/gmem-pv-hypercalls.rst.
 */
#ifndef _UAPI_LINUX_KVM_GMEM_PV_PARA_H
#define _UAPI_LINUX_KVM_GMEM_PV_PARA_H

#include <linux/kvm_para.h>	/* and asm/kvm_para.h: KVM_MAP_GPA_RANGE_* */

/*
 * CPUID 0x40000001 (KVM_CPUID_FEATURES) EAX bit: the guest's memory is
 * private by default (guest_memfd-owned state) and the host services
 * KVM_HC_MAP_GPA_RANGE in the kernel for this VM.  Set by the VMM in the
 * guest's CPUID when it enables KVM_CAP_GMEM_PV_MAP_GPA_RANGE on the VM;
 * KVM_GET_SUPPORTED_CPUID does not report it.
 */
#define KVM_FEATURE_GMEM_PV		20

/*
 * KVM_HC_MAP_GPA_RANGE, as KVM defines it (asm/kvm_para.h):
 *   a0 (RBX) = GPA, 4 KiB aligned; a1 (RCX) = number of 4 KiB pages;
 *   a2 (RDX) = bits 3:0 size hint (KVM_MAP_GPA_RANGE_PAGE_SZ_4K/_2M/_1G:
 *   0, 1, 2), bit 4 private (KVM_MAP_GPA_RANGE_ENCRYPTED); other bits 0.
 * On return RAX is 0 (the whole range is in the new state) or a negative
 * code below; RBX, RCX and RDX are left as passed, as for every KVM
 * hypercall.  After an error the state of the range is not known.
 */
#define KVM_GMEM_PV_HC_HINT_MASK	0xfULL
#define KVM_GMEM_PV_HC_PRIVATE		KVM_MAP_GPA_RANGE_ENCRYPTED
#define KVM_GMEM_PV_HC_VALID_ATTRS	(KVM_GMEM_PV_HC_HINT_MASK | KVM_GMEM_PV_HC_PRIVATE)
#define KVM_GMEM_PV_HC_HINT_MAX		KVM_MAP_GPA_RANGE_PAGE_SZ_1G

/* Return codes beyond those of linux/kvm_para.h (KVM_EINVAL, KVM_EPERM, ...). */
#define KVM_GMEM_PV_EAGAIN		11	/* a page is referenced by the host; retry */
#define KVM_GMEM_PV_ENOMEM		12	/* the host ran out of memory */

#endif /* _UAPI_LINUX_KVM_GMEM_PV_PARA_H */
