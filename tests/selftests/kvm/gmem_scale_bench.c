// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv benchmark (not a test): do conversions of disjoint ranges by two
 * vCPUs scale?  Each vCPU of a software-protected VM converts its own 4 KiB
 * page of one guest_memfd (4 KiB folios, gmem-only memslot, the pages 2 MiB
 * apart) private and shared again by KVM_HC_MAP_GPA_RANGE, serviced in the
 * kernel, as fast as it can: first one vCPU alone, then both, in separate
 * VMs, interleaved.  Prints conversions per second and the ratio of the
 * aggregate with two vCPUs to one (2.0 is perfect scaling; a lock or cache
 * line both conversions share shows up as less).  Needs two host CPUs and
 * kvm.gmem_in_place_conversion=1.
 *
 * Each phase is bounded: the host stops the guests after PHASE_MS, and
 * gives up (and says so) if a vCPU has not come back WEDGE_S later.
 */
#include <pthread.h>
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
#define FILE_SIZE	SZ_64M
#define NR_VCPUS	2
#define PHASE_MS	3000
#define WEDGE_S		30
#define REPEATS		3

/* Written by the host while the guests run. */
static u64 g_stop;
static u64 g_count[NR_VCPUS];

static void guest_code(u64 id)
{
	u64 gpa = TEST_GPA + id * SZ_2M;

	while (!READ_ONCE(g_stop)) {
		GUEST_ASSERT(!kvm_hypercall(KVM_HC_MAP_GPA_RANGE, gpa, 1,
					    KVM_GMEM_PV_HC_PRIVATE, 0));
		GUEST_ASSERT(!kvm_hypercall(KVM_HC_MAP_GPA_RANGE, gpa, 1, 0, 0));
		WRITE_ONCE(g_count[id], g_count[id] + 2);
	}
	GUEST_DONE();
}

struct vcpu_thread {
	pthread_t thread;
	struct kvm_vcpu *vcpu;
	bool done;
};

static void *vcpu_fn(void *arg)
{
	struct vcpu_thread *t = arg;
	struct ucall uc;

	TEST_ASSERT_EQ(gmem_pv_run_to_ucall(t->vcpu, &uc), UCALL_DONE);
	WRITE_ONCE(t->done, true);
	return NULL;
}

static u64 sum(u64 *count, int n)
{
	u64 s = 0;
	int i;

	for (i = 0; i < n; i++)
		s += READ_ONCE(count[i]);
	return s;
}

/* Conversions per second with @n vCPUs converting at once. */
static double run_phase(int n)
{
	struct kvm_vcpu *vcpus[NR_VCPUS];
	struct vcpu_thread t[NR_VCPUS] = {};
	u64 *stop, *count;
	u64 c0, c1, t0, t1;
	struct kvm_vm *vm;
	int i, fd, s;

	vm = __vm_create_with_vcpus(gmem_pv_protected_shape, NR_VCPUS, 0,
				    guest_code, vcpus);
	fd = vm_create_guest_memfd(vm, FILE_SIZE, GUEST_MEMFD_FLAG_INIT_SHARED);
	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   FILE_SIZE, NULL, fd, 0);
	vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, KVM_GMEM_PV_HC_ENABLE);
	stop = addr_gva2hva(vm, (gva_t)&g_stop);
	count = addr_gva2hva(vm, (gva_t)&g_count);

	for (i = 0; i < n; i++) {
		vcpu_args_set(vcpus[i], 1, i);
		t[i].vcpu = vcpus[i];
		pthread_create(&t[i].thread, NULL, vcpu_fn, &t[i]);
	}

	/* Measure once every vCPU is converting. */
	for (i = 0; i < n; i++) {
		for (s = 0; !READ_ONCE(count[i]) && s < WEDGE_S * 1000; s++)
			usleep(1000);
		TEST_ASSERT(READ_ONCE(count[i]), "vCPU %d never started converting", i);
	}
	c0 = sum(count, n);
	t0 = gmem_pv_now_ns();
	usleep(PHASE_MS * 1000);
	c1 = sum(count, n);
	t1 = gmem_pv_now_ns();
	WRITE_ONCE(*stop, 1);

	for (i = 0; i < n; i++) {
		for (s = 0; !READ_ONCE(t[i].done) && s < WEDGE_S * 1000; s++)
			usleep(1000);
		if (!READ_ONCE(t[i].done)) {
			/* Bounded: say so and leave; exit() ends the threads. */
			printf("# vCPU %d still in KVM_RUN %d s after the stop: wedged\n",
			       i, WEDGE_S);
			fflush(stdout);
			exit(1);
		}
		pthread_join(t[i].thread, NULL);
	}

	close(fd);
	kvm_vm_free(vm);
	return (double)(c1 - c0) * 1e9 / (t1 - t0);
}

int main(void)
{
	double best[NR_VCPUS + 1] = {}, r;
	int i, n;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PV_MAP_GPA_RANGE));
	TEST_REQUIRE(sysconf(_SC_NPROCESSORS_ONLN) >= NR_VCPUS);

	/* Interleave the phases so that noise hits them alike; keep the best. */
	for (i = 0; i < REPEATS; i++) {
		for (n = 1; n <= NR_VCPUS; n++) {
			r = run_phase(n);
			if (r > best[n])
				best[n] = r;
		}
	}

	printf("# vCPUs converting disjoint 4 KiB pages of one guest_memfd, in-kernel; "
	       "%d ms each, best of %d\n", PHASE_MS, REPEATS);
	for (n = 1; n <= NR_VCPUS; n++)
		printf("# %d vCPU%s %12.0f conversions per second\n", n,
		       n > 1 ? "s" : " ", best[n]);
	printf("# ratio aggregate 2 vCPUs / 1 vCPU:  %.2f\n", best[2] / best[1]);
	return 0;
}
