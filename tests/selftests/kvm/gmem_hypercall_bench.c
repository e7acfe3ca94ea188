// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv benchmark (not a test): the cost of a 4 KiB conversion round trip
 * (private, then shared again) requested by the guest with
 * KVM_HC_MAP_GPA_RANGE, serviced in the kernel vs. through the upstream
 * exit to the VMM (which converts with KVM_SET_MEMORY_ATTRIBUTES2), next to
 * a null hypercall, measured side by side in one run.  Needs
 * kvm.gmem_in_place_conversion=1.  Prints absolute times (meaningless
 * under TCG) and the ratios (what to compare).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "gmem_pv_util.h"

#define TEST_GPA	SZ_4G
#define TEST_SLOT	1
#define ROUNDS		1000
#define REPEATS		3

enum mode { NULL_HC, IN_KERNEL, USERSPACE, NR_MODES };

static const char * const mode_name[NR_MODES] = {
	"null hypercall", "round trip, in-kernel", "round trip, VMM exit",
};

static u64 hypercall(u64 nr, u64 a0, u64 a1, u64 a2)
{
	return kvm_hypercall(nr, a0, a1, a2, 0);
}

static void guest_code(u64 mode)
{
	int i;

	for (i = 0; i < ROUNDS; i++) {
		if (mode == NULL_HC) {
			GUEST_ASSERT(!hypercall(KVM_HC_VAPIC_POLL_IRQ, 0, 0, 0));
			continue;
		}
		GUEST_ASSERT(!hypercall(KVM_HC_MAP_GPA_RANGE, TEST_GPA, 1,
					KVM_GMEM_PV_HC_PRIVATE));
		GUEST_ASSERT(!hypercall(KVM_HC_MAP_GPA_RANGE, TEST_GPA, 1, 0));
	}
	GUEST_DONE();
}

/* The VMM's side of the upstream path: convert, re-enter. */
static void vmm_convert(struct kvm_vcpu *vcpu, int fd)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_memory_attributes2 attr = {
		.offset = run->hypercall.args[0] - TEST_GPA,
		.size = run->hypercall.args[1] * PAGE_SIZE,
		.attributes = (run->hypercall.args[2] & KVM_GMEM_PV_HC_PRIVATE) ?
			      KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};

	TEST_ASSERT_EQ(run->hypercall.nr, KVM_HC_MAP_GPA_RANGE);
	run->hypercall.ret = ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, &attr) ? -errno : 0;
}

/* One run of ROUNDS iterations in @mode; returns the ns it took. */
static u64 run_mode(enum mode mode)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	u64 t0, t;
	int fd;

	vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &vcpu, guest_code);
	fd = vm_create_guest_memfd(vm, PAGE_SIZE, GUEST_MEMFD_FLAG_MMAP |
						  GUEST_MEMFD_FLAG_INIT_SHARED);
	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   PAGE_SIZE, NULL, fd, 0);
	if (mode == IN_KERNEL)
		vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, KVM_GMEM_PV_HC_ENABLE);
	if (mode == USERSPACE)
		vm_enable_cap(vm, KVM_CAP_EXIT_HYPERCALL, BIT(KVM_HC_MAP_GPA_RANGE));
	vcpu_args_set(vcpu, 1, mode);

	t0 = gmem_pv_now_ns();
	for (;;) {
		vcpu_run(vcpu);
		if (vcpu->run->exit_reason == KVM_EXIT_HYPERCALL) {
			vmm_convert(vcpu, fd);
			continue;
		}
		TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
		if (get_ucall(vcpu, &uc) == UCALL_ABORT)
			REPORT_GUEST_ASSERT(uc);
		TEST_ASSERT_EQ(uc.cmd, UCALL_DONE);
		break;
	}
	t = gmem_pv_now_ns() - t0;

	close(fd);
	kvm_vm_free(vm);
	return t;
}

int main(void)
{
	u64 best[NR_MODES];
	int m, r;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PV_MAP_GPA_RANGE));

	/* Interleave the modes so that noise hits them alike; keep the best. */
	for (m = 0; m < NR_MODES; m++)
		best[m] = ~0ull;
	for (r = 0; r < REPEATS; r++) {
		for (m = 0; m < NR_MODES; m++) {
			u64 t = run_mode(m);

			if (t < best[m])
				best[m] = t;
		}
	}

	printf("# %d rounds, best of %d runs each, modes interleaved\n", ROUNDS, REPEATS);
	for (m = 0; m < NR_MODES; m++)
		printf("# %-24s %10.1f us per %s\n", mode_name[m],
		       best[m] / 1000.0 / ROUNDS, m == NULL_HC ? "call" : "round trip");
	printf("# ratio VMM exit / in-kernel round trip:   %.2f\n",
	       (double)best[USERSPACE] / best[IN_KERNEL]);
	printf("# ratio in-kernel round trip / null call:  %.2f\n",
	       (double)best[IN_KERNEL] / best[NULL_HC]);
	printf("# ratio VMM exit round trip / null call:   %.2f\n",
	       (double)best[USERSPACE] / best[NULL_HC]);
	return 0;
}
