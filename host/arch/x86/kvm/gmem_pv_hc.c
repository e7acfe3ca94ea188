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
 * within one memslot, rescheduling between steps.  The registers are
 * upstream's: RBX, RCX and RDX are inputs only and are left as the guest
 * passed them, on success and on error (kvm_hypercall3() and
 * kvm_sev_hypercall3() declare them so); RAX is the result.  When a signal
 * is due mid-request, KVM returns to its run loop without skipping the
 * VMCALL and keeps how far it got in the vCPU; the guest executes the same
 * VMCALL again and KVM resumes there, so the guest sees one hypercall that
 * completes.
 */

#include <linux/kvm_host.h>
#include <linux/delay.h>
#include <linux/sizes.h>
#include <linux/sched/signal.h>

#include "x86.h"
#include "regs.h"
#include "gmem_pv_hc.h"

#define CREATE_TRACE_POINTS
#include <trace/events/kvm_gmem_pv.h>

/*
 * 1 GiB: a step costs its locking, the invalidation and the state's store
 * once, plus what is there (folios to check, mappings to zap, with a
 * reschedule point in each walk), so a large request in a file of 2 MiB
 * folios is one step where it was 64 of 16 MiB.  A file of 4 KiB folios,
 * which can have 512 times as many, converts at most 16 MiB per step
 * (kvm_gmem_pv_convert_gfns()).  A signal waits for at most one step.
 */
#define GMEM_PV_HC_STEP		(SZ_1G >> PAGE_SHIFT)

/*
 * A host userspace fault that is mapping the page holds a reference for a
 * moment (with 2 MiB folios, a fault on any page of the folio); tell that
 * from a pin by trying again for a while before reporting EAGAIN to the
 * guest.  KVM's own faults never fail the check (only folios host userspace
 * mapped are looked at).  A while, not a number of times: the faulting
 * thread may have been preempted (nested, or an overcommitted host), and
 * retrying back to back would give up long before it is done.
 */
#define GMEM_PV_HC_EAGAIN_NS	(20 * NSEC_PER_MSEC)

#define GMEM_PV_HC_VALID_FLAGS	(KVM_GMEM_PV_HC_ENABLE | \
				 KVM_GMEM_PV_HC_EXIT_ON_CONVERSION | \
				 KVM_GMEM_PV_HC_GUEST_OWNED)

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
 * @cap:	args[0] = KVM_GMEM_PV_HC_* (0 turns the service off), the other
 *		args 0
 *
 * KVM_GMEM_PV_HC_GUEST_OWNED, once set, stays set for the VM's lifetime:
 * a VMM that could drop it again could then share private contents.
 *
 * Return: 0; -EINVAL for unknown flags, nonzero args[1..3], EXIT_ON_CONVERSION
 * or GUEST_OWNED without ENABLE, or a VM whose guest_memfds do not own its
 * state; -EPERM for a call that would drop KVM_GMEM_PV_HC_GUEST_OWNED.
 */
int kvm_gmem_pv_hc_enable(struct kvm *kvm, struct kvm_enable_cap *cap)
{
	u64 flags = cap->args[0];
	int r = 0;

	if (!kvm_gmem_pv_vm_owns_attributes(kvm) ||
	    cap->args[1] || cap->args[2] || cap->args[3] ||
	    (flags & ~GMEM_PV_HC_VALID_FLAGS) ||
	    (flags && !(flags & KVM_GMEM_PV_HC_ENABLE)))
		return -EINVAL;

	mutex_lock(&kvm->lock);
	if ((kvm->arch.gmem_pv_hc_flags & KVM_GMEM_PV_HC_GUEST_OWNED) &&
	    !(flags & KVM_GMEM_PV_HC_GUEST_OWNED))
		r = -EPERM;
	else
		WRITE_ONCE(kvm->arch.gmem_pv_hc_flags, flags);
	mutex_unlock(&kvm->lock);
	return r;
}

/**
 * kvm_arch_gmem_pv_guest_owned() - may only the guest share its contents
 * @kvm:	the VM
 *
 * Return: true once the VMM enabled KVM_GMEM_PV_HC_GUEST_OWNED: a
 * private->shared conversion by KVM_SET_MEMORY_ATTRIBUTES2 then zeroes the
 * pages, and only the guest's own KVM_HC_MAP_GPA_RANGE keeps contents.
 */
bool kvm_arch_gmem_pv_guest_owned(struct kvm *kvm)
{
	return READ_ONCE(kvm->arch.gmem_pv_hc_flags) & KVM_GMEM_PV_HC_GUEST_OWNED;
}
EXPORT_SYMBOL_FOR_KVM_INTERNAL(kvm_arch_gmem_pv_guest_owned);

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
 * After an informational exit: hand the guest the result of the request,
 * or, if it was interrupted, re-enter for the guest to execute the VMCALL
 * again and resume.
 */
static int gmem_pv_hc_complete_userspace(struct kvm_vcpu *vcpu)
{
	struct kvm_gmem_pv_hc_resume *res = &vcpu->arch.gmem_pv_hc;

	if (res->valid)
		return 1;

	return gmem_pv_hc_complete(vcpu, res->ret);
}

static int gmem_pv_hc_exit_converted(struct kvm_vcpu *vcpu, u64 gpa,
				     u64 npages, u64 attrs, long ret)
{
	struct kvm_run *run = vcpu->run;

	/* Kept in the kernel: the VMM is not asked to pass it through. */
	vcpu->arch.gmem_pv_hc.ret = ret;
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
		kvm_gmem_pv_stat_add(&kvm->stat.gmem_pv_hint_2m_pages, npages);
		break;
	case KVM_MAP_GPA_RANGE_PAGE_SZ_1G:
		kvm_gmem_pv_stat_add(&kvm->stat.gmem_pv_hint_1g_pages, npages);
		break;
	}
}

/*
 * Where a request starts: 0, or how far KVM got with this very request
 * (same RIP and registers) before a signal sent it back to the run loop.
 * Any other request on the vCPU forgets the saved point, so a request is
 * resumed only by the VMCALL that was interrupted.
 */
static u64 gmem_pv_hc_resume_point(struct kvm_vcpu *vcpu, u64 gpa, u64 npages,
				   u64 attrs)
{
	struct kvm_gmem_pv_hc_resume *res = &vcpu->arch.gmem_pv_hc;
	bool same = res->valid && res->rip == kvm_rip_read(vcpu) &&
		    res->gpa == gpa && res->npages == npages &&
		    res->attrs == attrs;

	res->valid = false;
	return same ? res->done : 0;
}

static void gmem_pv_hc_save(struct kvm_vcpu *vcpu, u64 gpa, u64 npages,
			    u64 attrs, u64 done)
{
	struct kvm_gmem_pv_hc_resume *res = &vcpu->arch.gmem_pv_hc;

	res->rip = kvm_rip_read(vcpu);
	res->gpa = gpa;
	res->npages = npages;
	res->attrs = attrs;
	res->done = done;
	res->valid = true;
	kvm_gmem_pv_stat_inc(&vcpu->kvm->stat.gmem_pv_hc_restarts);
}

/*
 * Convert one step, trying again for a while when a page is referenced.
 * Return: 0 or a negative errno; -EINTR when a signal is due and the step
 * should be retried after it; *@changed is set when the state changed.
 */
static int gmem_pv_hc_step(struct kvm *kvm, u64 gpa, u64 *npages, u64 attrs,
			   bool *changed)
{
	u64 give_up = 0, want = *npages;
	int r;

	for (;;) {
		*npages = want;
		r = kvm_gmem_pv_convert_gfns(kvm, gpa_to_gfn(gpa), npages,
					     attrs & KVM_GMEM_PV_HC_PRIVATE,
					     attrs & KVM_GMEM_PV_HC_HINT_MASK,
					     changed);
		if (r != -EAGAIN)
			return r;
		/* Not the guest's error: deliver the signal, then try again. */
		if (signal_pending(current))
			return -EINTR;
		if (!give_up)
			give_up = ktime_get_ns() + GMEM_PV_HC_EAGAIN_NS;
		else if (ktime_get_ns() > give_up)
			return -EAGAIN;
		/* Let the host fault that holds the page finish. */
		usleep_range(100, 200);
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
	u64 flags = READ_ONCE(vcpu->kvm->arch.gmem_pv_hc_flags);
	struct kvm *kvm = vcpu->kvm;
	/* The clock is read for the trace only. */
	bool timed = trace_kvm_gmem_pv_map_gpa_range_enabled();
	u64 t0 = timed ? ktime_get_ns() : 0, done, first;
	bool changed = false, interrupted = false;
	long ret = 0;
	int r;

	++vcpu->stat.hypercalls;
	kvm_gmem_pv_stat_inc(&kvm->stat.gmem_pv_hc_calls);

	done = gmem_pv_hc_resume_point(vcpu, gpa, npages, attrs);
	first = done;

	if (kvm_x86_call(get_cpl)(vcpu))
		ret = -KVM_EPERM;
	else
		ret = gmem_pv_hc_check(gpa, npages, attrs);

	while (!ret && done < npages) {
		u64 step = min_t(u64, npages - done, GMEM_PV_HC_STEP);
		bool step_changed = false;

		r = gmem_pv_hc_step(kvm, gpa + (done << PAGE_SHIFT), &step,
				    attrs, &step_changed);
		if (r == -EINTR) {
			interrupted = true;
			break;
		}
		if (r) {
			ret = gmem_pv_hc_errno(r);
			break;
		}

		changed |= step_changed;
		gmem_pv_hc_count(kvm, step, attrs);
		done += step;

		if (done < npages && signal_pending(current)) {
			interrupted = true;
			break;
		}
		cond_resched();
	}

	/* Let the run loop deliver the signal; the guest re-executes the VMCALL. */
	if (interrupted)
		gmem_pv_hc_save(vcpu, gpa, npages, attrs, done);

	trace_kvm_gmem_pv_map_gpa_range(vcpu->vcpu_id, gpa + (first << PAGE_SHIFT),
					done - first, npages - done, attrs, ret,
					timed ? ktime_get_ns() - t0 : 0);
	trace_kvm_gmem_pv_conversion_refused(KVM_GMEM_PV_TRACE_BY_HYPERCALL,
					     vcpu->vcpu_id, gpa + (done << PAGE_SHIFT),
					     (npages - done) << PAGE_SHIFT, attrs, ret,
					     (ret == -KVM_GMEM_PV_EAGAIN ||
					      ret == -KVM_GMEM_PV_ENOMEM) ?
					     gpa + (done << PAGE_SHIFT) : 0);

	if (ret)
		kvm_gmem_pv_stat_inc(&kvm->stat.gmem_pv_hc_errors);

	/* Report what this pass changed, even if the request then failed. */
	if ((flags & KVM_GMEM_PV_HC_EXIT_ON_CONVERSION) && changed)
		return gmem_pv_hc_exit_converted(vcpu, gpa + (first << PAGE_SHIFT),
						 done - first, attrs, ret);

	if (interrupted)
		return 1;

	return gmem_pv_hc_complete(vcpu, ret);
}
