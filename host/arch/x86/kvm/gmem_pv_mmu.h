/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv host: what the x86 MMU asks guest_memfd about huge mappings.
 */
#ifndef __ARCH_X86_KVM_GMEM_PV_MMU_H
#define __ARCH_X86_KVM_GMEM_PV_MMU_H

#include <linux/kvm_host.h>
#include <trace/events/kvm_gmem_pv.h>

#include "mmu/mmu_internal.h"

/*
 * The largest level, at most @max_level, at which KVM may map the shared
 * frame @gfn of @slot.  In a split memslot (guest_memfd for private pages,
 * the VMM's memory at userspace_addr for shared ones) the level comes from
 * the host mapping, and the VM's attributes, which would keep a huge
 * mapping off private frames, stay all-shared while guest_memfd owns the
 * state: a THP behind userspace_addr would be mapped across private frames,
 * and the guest's private writes there would land in the VMM's memory.  Map
 * at 2 MiB only where guest_memfd says the whole 2 MiB frame is shared and
 * the memslot maps 2 MiB-aligned guest_memfd ranges to 2 MiB guest frames
 * (a conversion of a range KVM may have mapped, which the fault's own
 * state lookup marks first, invalidates the 2 MiB-aligned cover, in file
 * offsets, of what it converts), and never at 1 GiB.  Other memslots and
 * VMs: @max_level.  What it limits is traced (kvm_gmem_pv_level_limited).
 */
static inline int kvm_gmem_pv_max_shared_level(struct kvm *kvm,
					       const struct kvm_memory_slot *slot,
					       gfn_t gfn, int max_level)
{
	if (max_level == PG_LEVEL_4K || !kvm_slot_has_gmem(slot) ||
	    kvm_memslot_is_gmem_only(slot) ||
	    !kvm_gmem_pv_vm_owns_attributes(kvm))
		return max_level;

	if ((slot->base_gfn ^ slot->gmem.pgoff) &
	    (KVM_PAGES_PER_HPAGE(PG_LEVEL_2M) - 1)) {
		trace_kvm_gmem_pv_level_limited(gfn, max_level, PG_LEVEL_4K,
						KVM_GMEM_PV_LIMIT_SPLIT_ALIGN);
		return PG_LEVEL_4K;
	}

	if (!kvm_gmem_pv_shared_range_uniform(kvm, slot,
					      gfn_round_for_level(gfn, PG_LEVEL_2M),
					      KVM_PAGES_PER_HPAGE(PG_LEVEL_2M))) {
		trace_kvm_gmem_pv_level_limited(gfn, max_level, PG_LEVEL_4K,
						KVM_GMEM_PV_LIMIT_SPLIT_MIXED);
		return PG_LEVEL_4K;
	}

	if (max_level > PG_LEVEL_2M) {
		trace_kvm_gmem_pv_level_limited(gfn, max_level, PG_LEVEL_2M,
						KVM_GMEM_PV_LIMIT_SPLIT_1G);
		return PG_LEVEL_2M;
	}
	return max_level;
}

#endif /* __ARCH_X86_KVM_GMEM_PV_MMU_H */
