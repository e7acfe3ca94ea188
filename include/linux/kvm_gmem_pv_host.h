/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv host: what KVM's common code and MMU need to know about
 * guest_memfd-owned private/shared state.  Included by <linux/kvm_host.h>,
 * after kvm_arch_has_private_mem(); not to be included on its own.
 */
#ifndef __LINUX_KVM_GMEM_PV_HOST_H
#define __LINUX_KVM_GMEM_PV_HOST_H

#include <linux/atomic.h>
#include <linux/errno.h>
#include <linux/types.h>
#include <linux/kvm_types.h>

struct kvm;
struct kvm_memory_slot;

/*
 * Walks of the guest's page tables that a failed accessed/dirty update may
 * restart, where guest_memfd owns the state, before the walk faults.
 */
#define KVM_GMEM_PV_AD_RETRIES	16

#ifdef CONFIG_KVM_GMEM_PV
extern bool kvm_gmem_in_place_conversion;

/*
 * kvm_arch_gmem_pv_supported(kvm): may gmem-pv own the private/shared state
 * of @kvm's VM type?  Defined by the architecture (x86: software-protected
 * VMs only) next to kvm_arch_has_private_mem(); no VM type elsewhere.
 */
#ifndef kvm_arch_gmem_pv_supported
static inline bool kvm_arch_gmem_pv_supported(struct kvm *kvm)
{
	return false;
}
#endif

/**
 * kvm_gmem_pv_vm_owns_attributes() - do @kvm's guest_memfds own its state
 * @kvm:	the VM, or NULL for the system-wide answer (/dev/kvm)
 *
 * Only VM types whose private memory is private by software alone qualify
 * (kvm_arch_gmem_pv_supported(), on x86 KVM_X86_SW_PROTECTED_VM).
 * Confidential VM types (SEV-SNP, TDX) keep 7.3's VM memory attributes,
 * conversions through the VMM and their hardware's RMP/S-EPT steps
 * whatever kvm.gmem_in_place_conversion says.
 *
 * Return: true if the private/shared state of @kvm's memory is kept in its
 * guest_memfds (kvm.gmem_in_place_conversion=1 and a software-protected VM
 * type with private memory; for NULL, the parameter alone), false if it is
 * the VM's memory attributes, as in upstream 7.3.
 */
static inline bool kvm_gmem_pv_vm_owns_attributes(struct kvm *kvm)
{
	if (!kvm_gmem_in_place_conversion)
		return false;

	return !kvm || (kvm_arch_has_private_mem(kvm) &&
			kvm_arch_gmem_pv_supported(kvm));
}

bool kvm_gmem_pv_is_private(struct kvm *kvm, gfn_t gfn);
bool kvm_gmem_pv_shared_range_uniform(struct kvm *kvm,
				      const struct kvm_memory_slot *slot,
				      gfn_t gfn, unsigned long npages);
int kvm_gmem_pv_check_extension(struct kvm *kvm, long cap);
int kvm_gmem_pv_convert_gfns(struct kvm *kvm, gfn_t gfn, u64 *npages,
			     bool private, unsigned int hint, bool *changed);
bool kvm_arch_gmem_pv_guest_owned(struct kvm *kvm);

/*
 * VM stats that vCPUs and ioctls update concurrently without a lock: u64,
 * as KVM's stats are read, changed atomically as kvm_update_page_stats()
 * changes its counters.
 */
static inline void kvm_gmem_pv_stat_add(u64 *stat, u64 n)
{
	atomic64_add(n, (atomic64_t *)stat);
}

static inline void kvm_gmem_pv_stat_inc(u64 *stat)
{
	kvm_gmem_pv_stat_add(stat, 1);
}

int kvm_gmem_pv_access_guest_page(struct kvm_memory_slot *slot, gfn_t gfn,
				  void *data, int offset, int len, bool write);
int kvm_gmem_pv_cmpxchg_guest_page(struct kvm_memory_slot *slot, gfn_t gfn,
				   int offset, void *old, u64 new, int len);
#else
static inline int kvm_gmem_pv_access_guest_page(struct kvm_memory_slot *slot,
						gfn_t gfn, void *data,
						int offset, int len, bool write)
{
	return -ENOENT;
}

static inline int kvm_gmem_pv_cmpxchg_guest_page(struct kvm_memory_slot *slot,
						 gfn_t gfn, int offset,
						 void *old, u64 new, int len)
{
	return -ENOENT;
}

static inline bool kvm_gmem_pv_vm_owns_attributes(struct kvm *kvm)
{
	return false;
}

static inline bool kvm_gmem_pv_is_private(struct kvm *kvm, gfn_t gfn)
{
	return false;
}

static inline bool kvm_gmem_pv_shared_range_uniform(struct kvm *kvm,
						    const struct kvm_memory_slot *slot,
						    gfn_t gfn, unsigned long npages)
{
	return true;
}
#endif /* CONFIG_KVM_GMEM_PV */

#endif /* __LINUX_KVM_GMEM_PV_HOST_H */
