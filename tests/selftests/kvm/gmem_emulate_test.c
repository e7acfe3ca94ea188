// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: the emulator's page-table walk through private page tables.
 *
 * Needs kvm.gmem_in_place_conversion=1.  The last-level page table of the
 * addresses the guest accesses lives in a private guest_memfd page, with
 * the accessed and dirty bits of its entries clear; KVM emulates an access
 * through it (an MMIO store, an MMIO load into RAM, string OUT and IN), and
 * its walker must set those bits in the private page the entry was read
 * from.  Done on the VMM's mapping instead, the update compares against the
 * shared alias of a split memslot forever, holding the vCPU thread in the
 * kernel, or faults in a guest_memfd-only memslot and injects a #PF.  Every
 * case runs in every memslot layout, each KVM_RUN bounded by a timer.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define TEST_SLOT	1
#define TEST_GPA	SZ_4G
#define TEST_SIZE	SZ_2M
#define MMIO_GPA	(TEST_GPA + SZ_1G)	/* no memslot */
#define TEST_PORT	0x1234
#define RUN_SECONDS	30

/*
 * The guest_memfd's pages: the page table, and two data pages.  The page
 * table is reached through the page directory entry of REGION_GVA (in the
 * library's page tables, slot 0) and, to fill and read it, at WINDOW_GVA.
 */
#define PT_GPA		TEST_GPA
#define DATA_A_GPA	(TEST_GPA + 1 * PAGE_SIZE)
#define DATA_B_GPA	(TEST_GPA + 2 * PAGE_SIZE)

#define REGION_GVA	BIT_ULL(40)
#define WINDOW_GVA	(REGION_GVA + SZ_1G)

/* Entries of the private page table: what REGION_GVA + i pages map. */
enum {
	PTE_BUF_A,	/* DATA_A, accessed by the emulator */
	PTE_MMIO,	/* MMIO_GPA */
	PTE_BUF_B,	/* DATA_B, written by the emulator */
	PTE_ALIAS_A,	/* DATA_A again, for the guest's own accesses */
	PTE_ALIAS_B,	/* DATA_B again */
	NR_PTES,
};

#define GVA(i)		(REGION_GVA + (i) * PAGE_SIZE)

#define X86_PTE_P	BIT_ULL(0)
#define X86_PTE_RW	BIT_ULL(1)
#define X86_PTE_A	BIT_ULL(5)
#define X86_PTE_D	BIT_ULL(6)

#define NBYTES		16

enum access {
	MMIO_STORE,	/* movsb DATA_A -> MMIO */
	MMIO_LOAD,	/* movsb MMIO -> DATA_B */
	STRING_OUT,	/* rep outsb from DATA_A */
	STRING_IN,	/* rep insb to DATA_B */
};

static u8 pattern(int i)
{
	return 0xa0 + i;
}

static void guest_code(u64 kind)
{
	u64 *pt = (u64 *)WINDOW_GVA;
	u8 *src, *dst, *alias_a = (u8 *)GVA(PTE_ALIAS_A);
	u64 cnt, want = 0, pte;
	int i;

	WRITE_ONCE(pt[PTE_BUF_A], DATA_A_GPA | X86_PTE_P | X86_PTE_RW);
	WRITE_ONCE(pt[PTE_MMIO], MMIO_GPA | X86_PTE_P | X86_PTE_RW);
	WRITE_ONCE(pt[PTE_BUF_B], DATA_B_GPA | X86_PTE_P | X86_PTE_RW);
	WRITE_ONCE(pt[PTE_ALIAS_A], DATA_A_GPA | X86_PTE_P | X86_PTE_RW);
	WRITE_ONCE(pt[PTE_ALIAS_B], DATA_B_GPA | X86_PTE_P | X86_PTE_RW);

	for (i = 0; i < NBYTES; i++)
		alias_a[i] = pattern(i);

	switch (kind) {
	case MMIO_STORE:
		/*
		 * The CPU walks for the MMIO destination, but takes the
		 * source from the TLB: read it once, then clear the accessed
		 * bit behind the TLB's back, so that only KVM's walk of the
		 * source, when it emulates the store, sets it again.
		 */
		(void)READ_ONCE(*(u8 *)GVA(PTE_BUF_A));
		WRITE_ONCE(pt[PTE_BUF_A],
			   READ_ONCE(pt[PTE_BUF_A]) & ~(X86_PTE_A | X86_PTE_D));
		src = (u8 *)GVA(PTE_BUF_A);
		dst = (u8 *)GVA(PTE_MMIO);
		asm volatile("movsb" : "+S"(src), "+D"(dst) : : "memory");
		want = X86_PTE_A;
		i = PTE_BUF_A;
		break;
	case MMIO_LOAD:
		src = (u8 *)GVA(PTE_MMIO);
		dst = (u8 *)GVA(PTE_BUF_B);
		asm volatile("movsb" : "+S"(src), "+D"(dst) : : "memory");
		want = X86_PTE_A | X86_PTE_D;
		i = PTE_BUF_B;
		break;
	case STRING_OUT:
		src = (u8 *)GVA(PTE_BUF_A);
		cnt = NBYTES;
		asm volatile("rep outsb" : "+S"(src), "+c"(cnt)
			     : "d"(TEST_PORT) : "memory");
		want = X86_PTE_A;
		i = PTE_BUF_A;
		break;
	case STRING_IN:
		dst = (u8 *)GVA(PTE_BUF_B);
		cnt = NBYTES;
		asm volatile("rep insb" : "+D"(dst), "+c"(cnt)
			     : "d"(TEST_PORT) : "memory");
		want = X86_PTE_A | X86_PTE_D;
		i = PTE_BUF_B;
		break;
	default:
		GUEST_FAIL("kind %lu", kind);
	}

	/* Before any access of the guest's own could set them. */
	pte = READ_ONCE(pt[i]);
	__GUEST_ASSERT((pte & want) == want, "PTE %d: 0x%lx, wanted 0x%lx set",
		       i, pte, want);
	GUEST_SYNC(pte);

	if (kind == MMIO_LOAD || kind == STRING_IN) {
		u8 *b = (u8 *)GVA(PTE_ALIAS_B);
		int n = kind == MMIO_LOAD ? 1 : NBYTES;

		for (i = 0; i < n; i++)
			__GUEST_ASSERT(READ_ONCE(b[i]) == pattern(i),
				       "byte %d: 0x%x", i, b[i]);
	}
	GUEST_DONE();
}

/*
 * Point the page directory entry of REGION_GVA at the private page table.
 * The hierarchy above it is the library's, in slot 0.
 */
static void map_private_page_table(struct kvm_vm *vm)
{
	u64 pa = vm->mmu.pgd, *pte = NULL;
	int level;

	virt_pg_map(vm, REGION_GVA, MMIO_GPA);
	for (level = vm->mmu.pgtable_levels; level >= 2; level--) {
		pte = (u64 *)addr_gpa2hva(vm, pa) +
		      ((REGION_GVA >> (12 + 9 * (level - 1))) & 511);
		pa = PTE_GET_PA(*pte);
	}
	*pte = (*pte & ~PHYSICAL_PAGE_MASK & ~X86_PTE_A) | PT_GPA;
}

static void alarm_handler(int sig)
{
}

FIXTURE(emul) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
};

FIXTURE_VARIANT(emul) {
	enum gmem_pv_layout layout;
};

GMEM_PV_LAYOUT_VARIANTS(emul);

FIXTURE_SETUP(emul)
{
	struct sigaction sa = { .sa_handler = alarm_handler };

	sigaction(SIGALRM, &sa, NULL);
	self->vm = __vm_create_with_vcpus(gmem_pv_protected_shape, 1, 0,
					  guest_code, &self->vcpu);
	/* No INIT_SHARED: every page is private from the start. */
	gmem_pv_mem_add(self->vm, &self->m, TEST_SLOT, TEST_GPA, TEST_SIZE, 0,
			variant->layout);
	virt_pg_map(self->vm, WINDOW_GVA, PT_GPA);
	map_private_page_table(self->vm);
}

FIXTURE_TEARDOWN(emul)
{
	kvm_vm_free(self->vm);
	gmem_pv_mem_free(&self->m);
}

/*
 * Run @kind to the end, serving its MMIO and port accesses: what the guest
 * sends must be the pattern, what it receives is the pattern.  Each KVM_RUN
 * must come back within RUN_SECONDS.
 */
static void run_access(struct __test_metadata *_metadata,
		       struct kvm_vcpu *vcpu, enum access kind)
{
	struct kvm_run *run = vcpu->run;
	int sent = 0, received = 0, i, r;
	struct ucall uc;
	u8 *data;

	vcpu_args_set(vcpu, 1, kind);
	for (;;) {
		alarm(RUN_SECONDS);
		r = __vcpu_run(vcpu);
		alarm(0);
		ASSERT_EQ(r, 0) {
			TH_LOG("KVM_RUN: %s%s", strerror(errno),
			       errno == EINTR ? " (did not return in time)" : "");
		}

		if (run->exit_reason == KVM_EXIT_MMIO) {
			ASSERT_EQ(run->mmio.phys_addr, MMIO_GPA);
			ASSERT_EQ(run->mmio.len, 1);
			if (run->mmio.is_write) {
				ASSERT_EQ(kind, MMIO_STORE);
				ASSERT_EQ(run->mmio.data[0], pattern(sent));
				sent++;
			} else {
				ASSERT_EQ(kind, MMIO_LOAD);
				run->mmio.data[0] = pattern(received++);
			}
			continue;
		}

		ASSERT_EQ(run->exit_reason, KVM_EXIT_IO) {
			TH_LOG("exit %s", exit_reason_str(run->exit_reason));
		}
		if (run->io.port == TEST_PORT) {
			ASSERT_EQ(run->io.size, 1);
			data = (u8 *)run + run->io.data_offset;
			for (i = 0; i < run->io.count; i++) {
				if (run->io.direction == KVM_EXIT_IO_OUT) {
					ASSERT_EQ(kind, STRING_OUT);
					ASSERT_EQ(data[i], pattern(sent));
					sent++;
				} else {
					ASSERT_EQ(kind, STRING_IN);
					data[i] = pattern(received++);
				}
			}
			continue;
		}

		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			TH_LOG("%s: private PTE 0x%lx", kind == MMIO_STORE ?
			       "mmio store" : kind == MMIO_LOAD ? "mmio load" :
			       kind == STRING_OUT ? "outsb" : "insb", uc.args[1]);
			continue;
		case UCALL_DONE:
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			ASSERT_TRUE(false) {
				TH_LOG("ucall %lu", uc.cmd);
			}
		}
		break;
	}

	switch (kind) {
	case MMIO_STORE:
		ASSERT_EQ(sent, 1);
		break;
	case MMIO_LOAD:
		ASSERT_EQ(received, 1);
		break;
	case STRING_OUT:
		ASSERT_EQ(sent, NBYTES);
		break;
	case STRING_IN:
		ASSERT_EQ(received, NBYTES);
		break;
	}
}

TEST_F_TIMEOUT(emul, mmio_store, 4 * RUN_SECONDS)
{
	run_access(_metadata, self->vcpu, MMIO_STORE);
}

TEST_F_TIMEOUT(emul, mmio_load_to_ram, 4 * RUN_SECONDS)
{
	run_access(_metadata, self->vcpu, MMIO_LOAD);
}

TEST_F_TIMEOUT(emul, string_out, 4 * RUN_SECONDS)
{
	run_access(_metadata, self->vcpu, STRING_OUT);
}

TEST_F_TIMEOUT(emul, string_in, 4 * RUN_SECONDS)
{
	run_access(_metadata, self->vcpu, STRING_IN);
}

TEST_HARNESS_MAIN
