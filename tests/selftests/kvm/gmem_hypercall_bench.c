// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv benchmark (not a test): the cost of a conversion round trip
 * (private, then shared again) requested by the guest with
 * KVM_HC_MAP_GPA_RANGE, for 4 KiB, 2 MiB and 1 GiB, serviced in the kernel
 * vs. through the upstream exit to the VMM, next to a null hypercall, all
 * measured side by side in one VM, interleaved.  Prints absolute times
 * (meaningless under TCG) and the ratios to the null hypercall (what to
 * compare); the floor of a round trip is 2.0, two hypercalls.
 *
 * With kvm.gmem_in_place_conversion=1 (default): the VMM's side converts
 * in place with KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd.  The 4 KiB
 * round trip is of one page in the middle of a 1 GiB file with 4 KiB
 * folios; the 2 MiB and 1 GiB ones are of a 1 GiB file with 2 MiB
 * folios (GUEST_MEMFD_FLAG_GMEM_PV_HUGE) that the guest populated, while
 * private, before the first measurement; "1 GiB, 4 KiB folios" is the whole
 * of a 1 GiB 4 KiB-folio file that nothing populated.
 *
 * With "upstream" as the argument and kvm.gmem_in_place_conversion=0 (KVM
 * as 7.3 ships it): the same round trips through upstream's only path, the
 * exit to the VMM and KVM_SET_MEMORY_ATTRIBUTES on the VM (4 KiB folios
 * throughout: 7.3 has no 2 MiB guest_memfd folios).  `make bench` runs that
 * first, in the same L1 boot, as the anchor.
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

#define SMALL_GPA	(8ULL << 30)
#define SMALL_SIZE	SZ_1G
#define SMALL_SLOT	1
#define BIG_GPA		SZ_4G
#define BIG_SIZE	SZ_1G
#define BIG_SLOT	2
#define REPEATS		3

enum cmd { CMD_NULL, CMD_ROUND_TRIP, CMD_TOUCH_2M, CMD_CONVERT };

/* Set by the host before each GUEST_SYNC(0) returns. */
static u64 g_cmd, g_gpa, g_npages, g_rounds, g_attrs;

static u64 hypercall(u64 nr, u64 a0, u64 a1, u64 a2)
{
	return kvm_hypercall(nr, a0, a1, a2, 0);
}

static void guest_code(void)
{
	u64 i, hint;

	for (;;) {
		GUEST_SYNC(0);
		hint = g_attrs & KVM_GMEM_PV_HC_HINT_MASK;
		switch (g_cmd) {
		case CMD_NULL:
			for (i = 0; i < g_rounds; i++)
				GUEST_ASSERT(!hypercall(KVM_HC_VAPIC_POLL_IRQ, 0, 0, 0));
			break;
		case CMD_ROUND_TRIP:
			for (i = 0; i < g_rounds; i++) {
				GUEST_ASSERT(!hypercall(KVM_HC_MAP_GPA_RANGE, g_gpa, g_npages,
							KVM_GMEM_PV_HC_PRIVATE | hint));
				GUEST_ASSERT(!hypercall(KVM_HC_MAP_GPA_RANGE, g_gpa, g_npages,
							hint));
			}
			break;
		case CMD_CONVERT:
			GUEST_ASSERT(!hypercall(KVM_HC_MAP_GPA_RANGE, g_gpa, g_npages,
						g_attrs));
			break;
		case CMD_TOUCH_2M:
			for (i = 0; i < g_npages; i += SZ_2M / PAGE_SIZE)
				WRITE_ONCE(*(u64 *)(g_gpa + i * PAGE_SIZE), i);
			break;
		}
	}
}

struct bench {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	int small_fd, big_fd;
	bool upstream;
};

/* The VMM's side of the exit path: convert, then re-enter. */
static void vmm_convert(struct bench *b)
{
	struct kvm_run *run = b->vcpu->run;
	u64 gpa = run->hypercall.args[0];
	u64 size = run->hypercall.args[1] * PAGE_SIZE;
	u64 attrs = (run->hypercall.args[2] & KVM_GMEM_PV_HC_PRIVATE) ?
		    KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	int r;

	TEST_ASSERT_EQ(run->hypercall.nr, KVM_HC_MAP_GPA_RANGE);
	if (b->upstream) {
		struct kvm_memory_attributes attr = {
			.address = gpa, .size = size, .attributes = attrs,
		};

		r = __vm_ioctl(b->vm, KVM_SET_MEMORY_ATTRIBUTES, &attr);
	} else if (gpa >= SMALL_GPA) {
		r = set_attributes2(b->small_fd, gpa - SMALL_GPA, size, attrs, 0);
	} else {
		r = set_attributes2(b->big_fd, gpa - BIG_GPA, size, attrs, 0);
	}
	run->hypercall.ret = r ? -errno : 0;
}

/* Have the guest do @cmd; return the ns it took, exits to the VMM included. */
static u64 guest_do(struct bench *b, u64 cmd, u64 gpa, u64 npages, u64 rounds,
		    u64 attrs)
{
	struct ucall uc;
	u64 t0;

	g_cmd = cmd;
	g_gpa = gpa;
	g_npages = npages;
	g_rounds = rounds;
	g_attrs = attrs;
	sync_global_to_guest(b->vm, g_cmd);
	sync_global_to_guest(b->vm, g_gpa);
	sync_global_to_guest(b->vm, g_npages);
	sync_global_to_guest(b->vm, g_rounds);
	sync_global_to_guest(b->vm, g_attrs);

	t0 = gmem_pv_now_ns();
	for (;;) {
		vcpu_run(b->vcpu);
		if (b->vcpu->run->exit_reason == KVM_EXIT_HYPERCALL) {
			vmm_convert(b);
			continue;
		}
		TEST_ASSERT_KVM_EXIT_REASON(b->vcpu, KVM_EXIT_IO);
		if (get_ucall(b->vcpu, &uc) == UCALL_ABORT)
			REPORT_GUEST_ASSERT(uc);
		TEST_ASSERT_EQ(uc.cmd, UCALL_SYNC);
		break;
	}
	return gmem_pv_now_ns() - t0;
}

static void set_in_kernel(struct bench *b, bool on)
{
	if (!b->upstream)
		vm_enable_cap(b->vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
			      on ? KVM_GMEM_PV_HC_ENABLE : 0);
}

static void bench_create(struct bench *b, bool upstream)
{
	u64 huge = upstream ? 0 : GUEST_MEMFD_FLAG_GMEM_PV_HUGE;

	memset(b, 0, sizeof(*b));
	b->upstream = upstream;
	b->vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &b->vcpu,
					      guest_code);
	b->small_fd = vm_create_guest_memfd(b->vm, SMALL_SIZE, 0);
	vm_set_user_memory_region2(b->vm, SMALL_SLOT, KVM_MEM_GUEST_MEMFD,
				   SMALL_GPA, SMALL_SIZE, NULL, b->small_fd, 0);
	b->big_fd = vm_create_guest_memfd(b->vm, BIG_SIZE, huge);
	vm_set_user_memory_region2(b->vm, BIG_SLOT, KVM_MEM_GUEST_MEMFD,
				   BIG_GPA, BIG_SIZE, NULL, b->big_fd, 0);
	virt_map_level(b->vm, BIG_GPA, BIG_GPA, BIG_SIZE, PG_LEVEL_2M);
	vm_enable_cap(b->vm, KVM_CAP_EXIT_HYPERCALL, BIT(KVM_HC_MAP_GPA_RANGE));
	if (upstream) {
		vm_set_memory_attributes(b->vm, SMALL_GPA, SMALL_SIZE,
					 KVM_MEMORY_ATTRIBUTE_PRIVATE);
		vm_set_memory_attributes(b->vm, BIG_GPA, BIG_SIZE,
					 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	}
	set_in_kernel(b, true);

	/* Reach the command loop. */
	guest_do(b, CMD_NULL, 0, 0, 0, 0);
	/* 2 MiB folios behind the whole big file, mapped while private. */
	if (!upstream)
		guest_do(b, CMD_TOUCH_2M, BIG_GPA, BIG_SIZE / PAGE_SIZE, 0, 0);
}

static void bench_free(struct bench *b)
{
	close(b->small_fd);
	close(b->big_fd);
	kvm_vm_free(b->vm);
}

/* What is measured: a null hypercall, or a round trip of a range. */
struct item {
	const char *name;
	u64 gpa, npages, rounds, hint;
	bool in_kernel;
	bool null;
	bool upstream;		/* runs under kvm.gmem_in_place_conversion=0 */
	bool in_place;		/* runs under kvm.gmem_in_place_conversion=1 */
};

#define NP(sz)	((sz) / PAGE_SIZE)
#define MID	(SMALL_GPA + SMALL_SIZE / 2)

static const struct item items[] = {
	{ "null hypercall", 0, 0, 2000, 0, false, true, true, true },
	{ "4 KiB, in-kernel", MID, 1, 1000, 0, true, false, false, true },
	{ "4 KiB, VMM exit", MID, 1, 1000, 0, false, false, true, true },
	{ "2 MiB, in-kernel", BIG_GPA, NP(SZ_2M), 300,
	  KVM_MAP_GPA_RANGE_PAGE_SZ_2M, true, false, false, true },
	{ "2 MiB, VMM exit", BIG_GPA, NP(SZ_2M), 300,
	  KVM_MAP_GPA_RANGE_PAGE_SZ_2M, false, false, true, true },
	{ "1 GiB, in-kernel", BIG_GPA, NP(SZ_1G), 30,
	  KVM_MAP_GPA_RANGE_PAGE_SZ_2M, true, false, false, true },
	{ "1 GiB, VMM exit", BIG_GPA, NP(SZ_1G), 30,
	  KVM_MAP_GPA_RANGE_PAGE_SZ_2M, false, false, false, true },
	{ "1 GiB, VMM exit", BIG_GPA, NP(SZ_1G), 1,
	  0, false, false, true, false },
	{ "1 GiB 4 KiB folios, in-kernel", SMALL_GPA, NP(SMALL_SIZE), 30,
	  0, true, false, false, true },
	{ "1 GiB 4 KiB folios, VMM exit", SMALL_GPA, NP(SMALL_SIZE), 30,
	  0, false, false, false, true },
};

int main(int argc, char *argv[])
{
	bool upstream = argc > 1 && !strcmp(argv[1], "upstream");
	u64 best[ARRAY_SIZE(items)], t;
	struct bench b;
	unsigned int i;
	int r;

	if (upstream) {
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_MEMORY_ATTRIBUTES) &
			     KVM_MEMORY_ATTRIBUTE_PRIVATE);
	} else {
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PV_MAP_GPA_RANGE));
		TEST_REQUIRE(kvm_check_cap(KVM_CAP_GUEST_MEMFD_FLAGS) &
			     GUEST_MEMFD_FLAG_GMEM_PV_HUGE);
	}

	bench_create(&b, upstream);
	/* Each range starts shared, so that a round trip changes its state. */
	for (i = 0; i < ARRAY_SIZE(items); i++) {
		best[i] = ~0ull;
		if (!items[i].null)
			guest_do(&b, CMD_CONVERT, items[i].gpa, items[i].npages, 0,
				 items[i].hint);
	}

	/* Interleave the items so that noise hits them alike; keep the best. */
	for (r = 0; r < REPEATS; r++) {
		for (i = 0; i < ARRAY_SIZE(items); i++) {
			const struct item *it = &items[i];

			if (upstream ? !it->upstream : !it->in_place)
				continue;
			set_in_kernel(&b, it->in_kernel);
			t = guest_do(&b, it->null ? CMD_NULL : CMD_ROUND_TRIP,
				     it->gpa, it->npages, it->rounds, it->hint);
			if (t / it->rounds < best[i])
				best[i] = t / it->rounds;
		}
	}
	bench_free(&b);

	if (upstream)
		printf("# upstream 7.3 (in_place_conversion=0), VMM: KVM_SET_MEMORY_ATTRIBUTES\n");
	else
		printf("# gmem-pv (in_place_conversion=1), VMM: KVM_SET_MEMORY_ATTRIBUTES2\n");
	printf("# best of %d runs each, items interleaved\n", REPEATS);
	for (i = 0; i < ARRAY_SIZE(items); i++) {
		const struct item *it = &items[i];

		if (upstream ? !it->upstream : !it->in_place)
			continue;
		if (it->null) {
			printf("# %-32s %10.1f us per call\n", it->name, best[i] / 1e3);
			continue;
		}
		printf("# %-32s %10.1f us per round trip, %8.2fx a null hypercall\n",
		       it->name, best[i] / 1e3, (double)best[i] / best[0]);
	}
	return 0;
}
