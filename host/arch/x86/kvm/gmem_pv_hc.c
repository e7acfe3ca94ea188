// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv host: KVM_HC_MAP_GPA_RANGE serviced in the kernel.
 *
 * Upstream KVM forwards the guest's conversion requests to the VMM
 * (KVM_EXIT_HYPERCALL), which calls KVM_SET_MEMORY_ATTRIBUTES and re-enters:
 * a round trip to userspace per request.  A VMM that enables
 * KVM_CAP_GMEM_PV_MAP_GPA_RANGE on a VM whose guest_memfds own their state
 * lets KVM convert the guest_memfd pages itself.
 *
 * A request is processed in steps of at most GMEM_PV_HC_STEP pages, each
 * within one memslot.  After every step RBX and RCX are advanced to what is
 * left, so when a reschedule or a signal is due KVM can return to its run
 * loop without skipping the VMCALL: the guest executes it again with the
 * rest of the range and sees one hypercall that completes.  On an error RAX
 * holds the code and RBX/RCX say exactly which part was not converted.
 */

#include <linux/kvm_host.h>
#include <linux/delay.h>
#include <linux/sched/signal.h>

#include "x86.h"
#include "regs.h"
#include "gmem_pv_hc.h"

#define CREATE_TRACE_POINTS
#include <trace/events/kvm_gmem_pv.h>

/* 16 MiB: long enough to amortise the locking, short enough to preempt. */
#define GMEM_PV_HC_STEP		4096

/*
 * KVM's own faults hold a page reference for a moment (another vCPU mapping
 * the page being converted, or with 2 MiB folios any page of the folio);
 * tell that from a pin by trying again for a while before reporting EAGAIN
 * to the guest.  A while, not a number of times: the fault may be running
 * on a vCPU that its host has preempted (nested, or an overcommitted host),
 * and retrying back to back would give up long before it is done.
 */
#define GMEM_PV_HC_EAGAIN_NS	(20 * NSEC_PER_MSEC)

#define GMEM_PV_HC_VALID_FLAGS	(KVM_GMEM_PV_HC_ENABLE | \
				 KVM_GMEM_PV_HC_EXIT_ON_CONVERSION)

/**
 * kvm_gmem_pv_hc_check_extension() - KVM_CAP_GMEM_PV_MAP_GPA_RANGE
 * @kvm:	the VM, or NULL for /dev/kvm
 *
 * Return: the valid KVM_ENABLE_CAP flags, 0 where guest_memfd does not own
 * the VM's private/shared state.
 */
int kvm_gmem_pv_hc_check_extension(struct kvm *kvm)
{
	return kvm_gmem_pv_vm_owns_attributes(kvm) ? GMEM_PV_HC_VALID_FLAGS : 0;
}

/**
 * kvm_gmem_pv_hc_enable() - KVM_ENABLE_CAP(KVM_CAP_GMEM_PV_MAP_GPA_RANGE)
 * @kvm:	the VM
 * @flags:	KVM_GMEM_PV_HC_* (0 turns the service off)
 *
 * Return: 0, or -EINVAL for unknown flags, EXIT_ON_CONVERSION without
 * ENABLE, or a VM whose guest_memfds do not own its state.
 */
int kvm_gmem_pv_hc_enable(struct kvm *kvm, u64 flags)
{
	if (!kvm_gmem_pv_vm_owns_attributes(kvm) ||
	    (flags & ~GMEM_PV_HC_VALID_FLAGS) ||
	    (flags && !(flags & KVM_GMEM_PV_HC_ENABLE)))
		return -EINVAL;

	WRITE_ONCE(kvm->arch.gmem_pv_hc_flags, flags);
	return 0;
}

static int gmem_pv_hc_check(u64 gpa, u64 npages, u64 attrs)
{
	if (!PAGE_ALIGNED(gpa) || !npages ||
	    gpa_to_gfn(gpa) + npages <= gpa_to_gfn(gpa))
		return -KVM_EINVAL;
	if (attrs & ~KVM_GMEM_PV_HC_VALID_ATTRS)
		return -KVM_EINVAL;
	if ((attrs & KVM_GMEM_PV_HC_HINT_MASK) > KVM_GMEM_PV_HC_HINT_MAX)
		return -KVM_EINVAL;
	return 0;
}

static long gmem_pv_hc_errno(int r)
{
	switch (r) {
	case -EAGAIN:
		return -KVM_GMEM_PV_EAGAIN;
	case -ENOMEM:
		return -KVM_GMEM_PV_ENOMEM;
	case -EFAULT:
		return -KVM_EFAULT;
	default:
		return -KVM_EINVAL;
	}
}

static int gmem_pv_hc_complete(struct kvm_vcpu *vcpu, long ret)
{
	kvm_rax_write_raw(vcpu, ret);
	return kvm_skip_emulated_instruction(vcpu);
}

/*
 * After an informational exit: hand the guest the error the pass ended with,
 * or complete, or go round again for what is left.
 */
static int gmem_pv_hc_complete_userspace(struct kvm_vcpu *vcpu)
{
	long ret = vcpu->arch.gmem_pv_hc_ret;

	if (ret || !kvm_rcx_read_raw(vcpu))
		return gmem_pv_hc_complete(vcpu, ret);

	return 1;
}

static int gmem_pv_hc_exit_converted(struct kvm_vcpu *vcpu, u64 gpa,
				     u64 npages, u64 attrs, long ret)
{
	struct kvm_run *run = vcpu->run;

	/* Kept in the kernel: the VMM is not asked to pass it through. */
	vcpu->arch.gmem_pv_hc_ret = ret;
	run->exit_reason = KVM_EXIT_HYPERCALL;
	run->hypercall.nr = KVM_HC_MAP_GPA_RANGE;
	run->hypercall.ret = ret;
	run->hypercall.args[0] = gpa;
	run->hypercall.args[1] = npages;
	run->hypercall.args[2] = attrs;
	run->hypercall.flags = KVM_EXIT_HYPERCALL_LONG_MODE |
			       KVM_EXIT_HYPERCALL_GMEM_PV_CONVERTED;
	vcpu->arch.complete_userspace_io = gmem_pv_hc_complete_userspace;
	return 0;
}

/*
 * vCPUs convert concurrently: the VM-wide counters are atomic.  Pages
 * converted each way are counted by guest_memfd, whoever asked.
 */
static void gmem_pv_hc_count(struct kvm *kvm, u64 npages, u64 attrs)
{
	switch (attrs & KVM_GMEM_PV_HC_HINT_MASK) {
	case KVM_MAP_GPA_RANGE_PAGE_SZ_2M:
		atomic64_add(npages, &kvm->stat.gmem_pv_hint_2m_pages);
		break;
	case KVM_MAP_GPA_RANGE_PAGE_SZ_1G:
		atomic64_add(npages, &kvm->stat.gmem_pv_hint_1g_pages);
		break;
	}
}

/**
 * kvm_gmem_pv_emulate_hypercall() - service KVM_HC_MAP_GPA_RANGE
 * @vcpu:	the vCPU that executed VMCALL/VMMCALL, with kvm->srcu held
 *
 * Called instead of the generic hypercall path when
 * kvm_gmem_pv_wants_hypercall() says so.
 *
 * Return: 1 to re-enter the guest, 0 to exit to userspace, or an error.
 */
int kvm_gmem_pv_emulate_hypercall(struct kvm_vcpu *vcpu)
{
	u64 gpa = kvm_rbx_read_raw(vcpu), npages = kvm_rcx_read_raw(vcpu);
	u64 attrs = kvm_rdx_read_raw(vcpu);
	u64 start_gpa = gpa, flags = READ_ONCE(vcpu->kvm->arch.gmem_pv_hc_flags);
	struct kvm *kvm = vcpu->kvm;
	u64 t0 = ktime_get_ns();
	long ret = 0;
	int r;

	++vcpu->stat.hypercalls;
	atomic64_inc(&kvm->stat.gmem_pv_hc_calls);

	if (kvm_x86_call(get_cpl)(vcpu))
		ret = -KVM_EPERM;
	else
		ret = gmem_pv_hc_check(gpa, npages, attrs);

	while (!ret && npages) {
		u64 give_up = 0, done;

		for (;;) {
			done = min_t(u64, npages, GMEM_PV_HC_STEP);
			r = kvm_gmem_pv_convert_gfns(kvm, gpa_to_gfn(gpa), &done,
						     attrs & KVM_GMEM_PV_HC_PRIVATE,
						     attrs & KVM_GMEM_PV_HC_HINT_MASK);
			if (r != -EAGAIN || signal_pending(current))
				break;
			if (!give_up)
				give_up = ktime_get_ns() + GMEM_PV_HC_EAGAIN_NS;
			else if (ktime_get_ns() > give_up)
				break;
			/* Let the fault that holds the page finish. */
			usleep_range(100, 200);
		}
		/* Not the guest's error: deliver the signal, then try again. */
		if (r == -EAGAIN && signal_pending(current)) {
			atomic64_inc(&kvm->stat.gmem_pv_hc_restarts);
			break;
		}
		if (r) {
			ret = gmem_pv_hc_errno(r);
			break;
		}

		gmem_pv_hc_count(kvm, done, attrs);
		gpa += done << PAGE_SHIFT;
		npages -= done;
		kvm_rbx_write_raw(vcpu, gpa);
		kvm_rcx_write_raw(vcpu, npages);

		/*
		 * Let the run loop reschedule or deliver the signal; the guest
		 * re-executes the hypercall for what is left.
		 */
		if (npages && (need_resched() || signal_pending(current))) {
			atomic64_inc(&kvm->stat.gmem_pv_hc_restarts);
			break;
		}
	}

	trace_kvm_gmem_pv_map_gpa_range(vcpu->vcpu_id, start_gpa,
					(gpa - start_gpa) >> PAGE_SHIFT, npages,
					attrs, ret, ktime_get_ns() - t0);

	if (ret)
		atomic64_inc(&kvm->stat.gmem_pv_hc_errors);

	/* Report what this pass converted, even if it then failed. */
	if ((flags & KVM_GMEM_PV_HC_EXIT_ON_CONVERSION) && gpa != start_gpa)
		return gmem_pv_hc_exit_converted(vcpu, start_gpa,
						 (gpa - start_gpa) >> PAGE_SHIFT,
						 attrs, ret);

	if (ret || !npages)
		return gmem_pv_hc_complete(vcpu, ret);

	return 1;
}
