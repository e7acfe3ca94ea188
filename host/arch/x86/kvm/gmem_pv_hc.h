/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv host: the in-kernel KVM_HC_MAP_GPA_RANGE service, as x86.c and
 * cpuid.c see it.
 */
#ifndef __ARCH_X86_KVM_GMEM_PV_HC_H
#define __ARCH_X86_KVM_GMEM_PV_HC_H

#include <linux/kvm_host.h>
#include <linux/kvm_gmem_pv_para.h>

#include "regs.h"

#ifdef CONFIG_KVM_GMEM_PV
int kvm_gmem_pv_hc_check_extension(struct kvm *kvm);
int kvm_gmem_pv_hc_enable(struct kvm *kvm, struct kvm_enable_cap *cap);
int kvm_gmem_pv_emulate_hypercall(struct kvm_vcpu *vcpu);

/* Is this VMCALL a conversion request the kernel services for this VM? */
static inline bool kvm_gmem_pv_wants_hypercall(struct kvm_vcpu *vcpu)
{
	return READ_ONCE(vcpu->kvm->arch.gmem_pv_hc_flags) &&
	       is_64_bit_hypercall(vcpu) &&
	       kvm_rax_read_raw(vcpu) == KVM_HC_MAP_GPA_RANGE;
}
#else
static inline int kvm_gmem_pv_hc_check_extension(struct kvm *kvm)
{
	return 0;
}

static inline int kvm_gmem_pv_hc_enable(struct kvm *kvm,
					struct kvm_enable_cap *cap)
{
	return -EINVAL;
}

static inline int kvm_gmem_pv_emulate_hypercall(struct kvm_vcpu *vcpu)
{
	return -EIO;
}

static inline bool kvm_gmem_pv_wants_hypercall(struct kvm_vcpu *vcpu)
{
	return false;
}
#endif /* CONFIG_KVM_GMEM_PV */

#endif /* __ARCH_X86_KVM_GMEM_PV_HC_H */
