// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv benchmark (not a test): what a fragmented private/shared state
 * costs.  A 1 GiB guest_memfd (4 KiB folios, gmem-only memslot) in one
 * state, and the same with every other page shared (131072 shared ranges
 * between 131072 private ones, made with KVM_SET_MEMORY_ATTRIBUTES2),
 * measured side by side in one run, interleaved:
 *  - faults: the guest touches 4096 private pages, 256 KiB apart, first
 *    touch on each (kvm_gmem_pv_is_private() on every fault);
 *  - conversions: 1000 round trips of one private page (shared, then
 *    private again) by KVM_HC_MAP_GPA_RANGE, serviced in the kernel: in
 *    the uniform file the page splits its range and merges back, in the
 *    fragmented one it merges its two shared neighbours and splits them
 *    again;
 *  - the memory the state takes, per range: maple tree nodes
 *    (/sys/kernel/slab/maple_node) before and after fragmenting.
 * Prints the ratios fragmented / uniform.  Needs
 * kvm.gmem_in_place_conversion=1.
 */
#include <stdio.h>
#include <string.h>
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
#define FILE_SIZE	SZ_1G
#define NR_PAGES	(FILE_SIZE / PAGE_SIZE)
#define FAULT_STRIDE	64		/* pages: even, so private */
#define NR_FAULTS	(NR_PAGES / FAULT_STRIDE)
#define ROUNDS		1000
#define REPEATS		1
/* A private page no fault touches, in the middle of the file. */
#define CONV_GPA	(TEST_GPA + FILE_SIZE / 2 + 2 * PAGE_SIZE)

enum kind { UNIFORM, FRAGMENTED, NR_KINDS };

static const char * const kind_name[NR_KINDS] = {
	"uniform", "every other page shared",
};

static void guest_code(void)
{
	u64 i;

	GUEST_SYNC(1);
	for (i = 0; i < NR_FAULTS; i++)
		WRITE_ONCE(*(u64 *)(TEST_GPA + i * FAULT_STRIDE * PAGE_SIZE), i);
	GUEST_SYNC(2);
	for (i = 0; i < ROUNDS; i++) {
		GUEST_ASSERT(!kvm_hypercall(KVM_HC_MAP_GPA_RANGE, CONV_GPA, 1, 0, 0));
		GUEST_ASSERT(!kvm_hypercall(KVM_HC_MAP_GPA_RANGE, CONV_GPA, 1,
					    KVM_GMEM_PV_HC_PRIVATE, 0));
	}
	GUEST_DONE();
}

/* Maple tree nodes allocated now, once RCU has freed what it will. */
static long maple_nodes(void)
{
	long n, prev = -1;
	int i;

	for (i = 0; i < 20; i++) {
		FILE *f = fopen("/sys/kernel/slab/maple_node/objects", "r");

		if (!f)
			return -1;
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
		if (n == prev)
			break;
		prev = n;
		usleep(200 * 1000);
	}
	return n;
}

static long maple_node_size(void)
{
	FILE *f = fopen("/sys/kernel/slab/maple_node/object_size", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

struct result {
	double fault_ns, conv_ns;
	long nodes;
	u64 ranges;
};

static struct result run_kind(enum kind kind)
{
	struct kvm_vcpu *vcpu;
	struct result res = {};
	struct kvm_vm *vm;
	long nodes0 = 0;
	u64 t0, pf0, off;
	struct ucall uc;
	int fd;

	vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &vcpu, guest_code);
	fd = vm_create_guest_memfd(vm, FILE_SIZE, 0);
	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   FILE_SIZE, NULL, fd, 0);
	virt_map_level(vm, TEST_GPA, TEST_GPA, FILE_SIZE, PG_LEVEL_2M);
	vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, KVM_GMEM_PV_HC_ENABLE);

	res.ranges = 1;
	if (kind == FRAGMENTED) {
		nodes0 = maple_nodes();
		for (off = PAGE_SIZE; off < FILE_SIZE; off += 2 * PAGE_SIZE)
			TEST_ASSERT(!set_attributes2(fd, off, PAGE_SIZE, 0, 0),
				    "sharing 0x%lx: %s", off, strerror(errno));
		res.nodes = maple_nodes() - nodes0;
		res.ranges = NR_PAGES;
	}

	gmem_pv_run_to_sync(vcpu, 1);
	pf0 = vcpu_get_stat(vcpu, pf_taken);
	t0 = gmem_pv_now_ns();
	gmem_pv_run_to_sync(vcpu, 2);
	res.fault_ns = (double)(gmem_pv_now_ns() - t0) /
		       ((vcpu_get_stat(vcpu, pf_taken) - pf0) ?: 1);

	t0 = gmem_pv_now_ns();
	TEST_ASSERT_EQ(gmem_pv_run_to_ucall(vcpu, &uc), UCALL_DONE);
	res.conv_ns = (double)(gmem_pv_now_ns() - t0) / ROUNDS;

	close(fd);
	kvm_vm_free(vm);
	return res;
}

int main(void)
{
	struct result best[NR_KINDS] = {}, r;
	int k, i;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PV_MAP_GPA_RANGE));

	for (i = 0; i < REPEATS; i++) {
		for (k = 0; k < NR_KINDS; k++) {
			r = run_kind(k);
			if (!i || r.fault_ns < best[k].fault_ns)
				best[k].fault_ns = r.fault_ns;
			if (!i || r.conv_ns < best[k].conv_ns)
				best[k].conv_ns = r.conv_ns;
			best[k].nodes = r.nodes;
			best[k].ranges = r.ranges;
		}
	}

	printf("# 1 GiB guest_memfd, 4 KiB folios, gmem-only; %d run%s each, interleaved\n",
	       REPEATS, REPEATS > 1 ? "s" : "");
	for (k = 0; k < NR_KINDS; k++)
		printf("# %-24s %7lu ranges %9.1f us per fault %9.1f us per 4 KiB round trip\n",
		       kind_name[k], best[k].ranges,
		       best[k].fault_ns / 1e3, best[k].conv_ns / 1e3);
	printf("# ratio fault cost fragmented / uniform:       %.3f\n",
	       best[FRAGMENTED].fault_ns / best[UNIFORM].fault_ns);
	printf("# ratio conversion cost fragmented / uniform:  %.3f\n",
	       best[FRAGMENTED].conv_ns / best[UNIFORM].conv_ns);
	printf("# state memory: %ld maple nodes of %ld bytes, %lu ranges: %.1f bytes per range\n",
	       best[FRAGMENTED].nodes, maple_node_size(),
	       best[FRAGMENTED].ranges,
	       (double)best[FRAGMENTED].nodes * maple_node_size() /
	       best[FRAGMENTED].ranges);
	return 0;
}
