// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: KVM's paravirtual areas in private memory.
 *
 * Needs kvm.vm_memory_attributes=0.  A guest tells KVM where to write its
 * steal time, PV EOI byte, kvmclock and async-PF records by WRMSR; a
 * protected guest shares those pages first, but nothing makes it.  These
 * cases register all four areas in private guest_memfd pages, run the vCPU
 * through many entries (KVM updates steal time and kvmclock on each), make
 * the pages shared and private again under KVM's feet, and check the claim
 * of Documentation/virt/gmem-pv/threat-model.rst: no guest action crashes
 * or hangs the host, and host userspace never sees a private byte (a
 * private page of the guest_memfd's mapping raises SIGBUS; the VMM memory
 * of a split memslot never holds the guest's private pattern).  Every
 * memslot layout, 4 KiB and 2 MiB backing.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/kvm.h>
#include <linux/kvm_para.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define TEST_GPA	SZ_4G
#define TEST_SLOT	1
#define TEST_SIZE	SZ_2M
#define PRIV		KVM_MEMORY_ATTRIBUTE_PRIVATE

/* Pages of the slot: one per area, then a control page nothing registers. */
enum { PG_STEAL, PG_EOI, PG_CLOCK, PG_APF, PG_CONTROL, NR_PAGES };

#define PATTERN		0x5a
#define ROUNDS		64

static void guest_code(u64 gpa)
{
	u64 i;

	memset((void *)gpa, PATTERN, NR_PAGES * PAGE_SIZE);
	wrmsr(MSR_KVM_STEAL_TIME, (gpa + PG_STEAL * PAGE_SIZE) | KVM_MSR_ENABLED);
	wrmsr(MSR_KVM_PV_EOI_EN, (gpa + PG_EOI * PAGE_SIZE) | KVM_MSR_ENABLED);
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (gpa + PG_CLOCK * PAGE_SIZE) | 1);
	wrmsr(MSR_KVM_ASYNC_PF_INT, 0xec);
	wrmsr(MSR_KVM_ASYNC_PF_EN, (gpa + PG_APF * PAGE_SIZE) |
	      KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_DELIVERY_AS_INT);

	/* Stage 1: private; 2: the host made them shared; 3: private again. */
	for (i = 0; i < 3 * ROUNDS; i++)
		GUEST_SYNC(i);

	for (i = 0; i < PAGE_SIZE; i++)
		__GUEST_ASSERT(READ_ONCE(*(u8 *)(gpa + PG_CONTROL * PAGE_SIZE + i)) ==
			       PATTERN, "control page byte %lu changed", i);
	GUEST_DONE();
}

FIXTURE(pv_areas) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
};

FIXTURE_VARIANT(pv_areas) {
	enum gmem_pv_layout layout;
	u64 gmem_flags;
};

GMEM_PV_LAYOUT_BACKING_VARIANTS(pv_areas);

FIXTURE_SETUP(pv_areas)
{
	self->vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape,
						 &self->vcpu, guest_code);
	/* Private from the start: the file is created without INIT_SHARED. */
	gmem_pv_mem_add(self->vm, &self->m, TEST_SLOT, TEST_GPA, TEST_SIZE,
			variant->gmem_flags, variant->layout);
	virt_map(self->vm, TEST_GPA, TEST_GPA, TEST_SIZE / PAGE_SIZE);
	vcpu_args_set(self->vcpu, 1, TEST_GPA);
}

FIXTURE_TEARDOWN(pv_areas)
{
	kvm_vm_free(self->vm);
	gmem_pv_mem_free(&self->m);
}

/*
 * Where host userspace sees the slot's shared pages, no private page's
 * contents: in the guest_memfd's mapping a private page must fault, and in
 * a split slot's VMM memory the guest's pattern must never appear.
 */
static void check_nothing_private_visible(struct __test_metadata *_metadata,
					  struct gmem_pv_mem *m, const char *when)
{
	u64 pg, off;
	u8 v;

	for (pg = 0; pg < NR_PAGES; pg++) {
		u8 *p = m->shared + pg * PAGE_SIZE;

		if (m->gmem) {
			EXPECT_FALSE(host_read(p, &v)) {
				TH_LOG("%s: private page %lu of the guest_memfd read 0x%x",
				       when, pg, v);
			}
			continue;
		}
		for (off = 0; off < PAGE_SIZE; off += 8)
			if (*(u64 *)(p + off) == 0x5a5a5a5a5a5a5a5aULL)
				break;
		EXPECT_EQ(off, PAGE_SIZE) {
			TH_LOG("%s: private pattern in the VMM memory, page %lu + 0x%lx",
			       when, pg, off);
		}
	}
}

static void run_rounds(struct __test_metadata *_metadata, struct kvm_vcpu *vcpu,
		       u64 first)
{
	struct ucall uc;
	u64 i;

	for (i = first; i < first + ROUNDS; i++) {
		ASSERT_EQ(gmem_pv_run_to_ucall(vcpu, &uc), UCALL_SYNC);
		ASSERT_EQ(uc.args[1], i);
	}
}

TEST_F(pv_areas, registered_in_private_memory)
{
	struct gmem_pv_mem *m = &self->m;
	u64 areas = PG_CONTROL * PAGE_SIZE;
	struct ucall uc;

	/* Stage 1: every area private; KVM's writes must fail closed. */
	run_rounds(_metadata, self->vcpu, 0);
	check_nothing_private_visible(_metadata, m, "private");

	/*
	 * Stage 2: the areas shared, with their contents; KVM's writes now
	 * land where host userspace can see them, which is what sharing is.
	 */
	ASSERT_EQ(set_attributes2(m->fd, 0, areas, 0,
				  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE), 0);
	run_rounds(_metadata, self->vcpu, ROUNDS);
	if (m->gmem) {
		u8 v;

		EXPECT_TRUE(host_read(m->shared, &v));
		/* KVM updated the steal time record once shared. */
		EXPECT_NE(((struct kvm_steal_time *)m->shared)->version,
			  0x5a5a5a5aU);
	}

	/* Stage 3: private again while KVM still holds the addresses. */
	ASSERT_EQ(set_attributes2(m->fd, 0, areas, PRIV, 0), 0);
	run_rounds(_metadata, self->vcpu, 2 * ROUNDS);
	check_nothing_private_visible(_metadata, m, "private again");

	ASSERT_EQ(gmem_pv_run_to_ucall(self->vcpu, &uc), UCALL_DONE);
}

TEST_HARNESS_MAIN
