// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: the host fails closed where host userspace and the guest could
 * disagree about a page.
 *
 * Needs kvm.gmem_in_place_conversion=1.  Each case is a claim of
 * Documentation/virt/gmem-pv/threat-model.rst:
 *  - in a split memslot (guest_memfd for private pages, anonymous or THP
 *    memory at userspace_addr for shared ones), a private page inside a
 *    2 MiB frame that is otherwise shared is never reached through a huge
 *    mapping of the VMM's memory: the guest's private writes never appear
 *    there (split_huge_alias, every layout, 4 KiB and 2 MiB backing);
 *  - a split memslot whose guest_memfd the VMM closed does not turn the
 *    guest's private pages into the VMM's memory (closed_gmem);
 *  - a page that host userspace pins, anywhere in a 2 MiB folio, keeps the
 *    folio from becoming private, while another thread maps and unmaps
 *    other pages of it (pinned_folio);
 *  - a pin taken after a conversion found the folio clean and forgot that
 *    host userspace had mapped it still keeps it from becoming private, in
 *    4 KiB and 2 MiB folios (repin);
 *  - with KVM_GMEM_PV_HC_GUEST_OWNED, host userspace cannot share a
 *    private page with its contents; only the guest's hypercall can
 *    (guest_owned);
 *  - a nested guest's faults do not make KVM prefetch private gfns from
 *    the VMM's memory: the nested guest's writes to its host's private
 *    pages reach guest_memfd, never userspace_addr (nested_prefetch).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/stddef.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "test_util.h"
#include "ucall_common.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define TEST_GPA	SZ_4G
#define TEST_SLOT	1
#define PRIV		KVM_MEMORY_ATTRIBUTE_PRIVATE

static void convert(int fd, u64 offset, u64 size, u64 attributes, u64 flags)
{
	TEST_ASSERT(!set_attributes2(fd, offset, size, attributes, flags),
		    "KVM_SET_MEMORY_ATTRIBUTES2 [0x%lx, +0x%lx) to 0x%lx: %s",
		    offset, size, attributes, strerror(errno));
}

/* ---- a private page inside a shared 2 MiB frame ------------------------ */

#define HA_SIZE		SZ_4M
#define HA_PRIV_OFF	(SZ_1M + PAGE_SIZE)	/* in the first 2 MiB frame */

/* The guest writes @val at the start of every page of the first 2 MiB. */
static void guest_fill_2m(u64 gpa, u8 val)
{
	u64 off;

	for (off = 0; off < SZ_2M; off += PAGE_SIZE)
		WRITE_ONCE(*(u8 *)(gpa + off), val);
}

static void guest_huge_alias(u64 gpa)
{
	guest_fill_2m(gpa, 0x11);			/* all shared */
	GUEST_SYNC(1);
	guest_fill_2m(gpa, 0x22);			/* one page private */
	__GUEST_ASSERT(READ_ONCE(*(u8 *)(gpa + HA_PRIV_OFF)) == 0x22,
		       "private page reads 0x%x", *(u8 *)(gpa + HA_PRIV_OFF));
	GUEST_SYNC(2);
	GUEST_DONE();
}

FIXTURE(split_huge_alias) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
};

FIXTURE_VARIANT(split_huge_alias) {
	enum gmem_pv_layout layout;
	u64 gmem_flags;
};

FIXTURE_VARIANT_ADD(split_huge_alias, gmem_only_4k) {
	.layout = GMEM_PV_LAYOUT_GMEM_ONLY,
};

FIXTURE_VARIANT_ADD(split_huge_alias, gmem_only_2m) {
	.layout = GMEM_PV_LAYOUT_GMEM_ONLY,
	.gmem_flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,
};

FIXTURE_VARIANT_ADD(split_huge_alias, split_4k) {
	.layout = GMEM_PV_LAYOUT_SPLIT_4K,
};

FIXTURE_VARIANT_ADD(split_huge_alias, split_thp) {
	.layout = GMEM_PV_LAYOUT_SPLIT_THP,
};

FIXTURE_VARIANT_ADD(split_huge_alias, split_thp_2m) {
	.layout = GMEM_PV_LAYOUT_SPLIT_THP,
	.gmem_flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,
};

FIXTURE_SETUP(split_huge_alias)
{
	self->vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape,
						 &self->vcpu, guest_huge_alias);
	gmem_pv_mem_add(self->vm, &self->m, TEST_SLOT, TEST_GPA, HA_SIZE,
			GUEST_MEMFD_FLAG_INIT_SHARED | variant->gmem_flags,
			variant->layout);
	/* 2 MiB guest mappings, so that only KVM's level is in question. */
	virt_map_level(self->vm, TEST_GPA, TEST_GPA, HA_SIZE, PG_LEVEL_2M);
	vcpu_args_set(self->vcpu, 1, TEST_GPA);
}

FIXTURE_TEARDOWN(split_huge_alias)
{
	kvm_vm_free(self->vm);
	gmem_pv_mem_free(&self->m);
}

/*
 * The guest fills a shared 2 MiB frame (KVM may map it at 2 MiB: from the
 * THP behind userspace_addr in a split slot, from the folio with 2 MiB
 * backing), the VMM makes one page of it private, and the guest fills the
 * frame again.  The private page's new contents must never be where host
 * userspace sees shared pages, and the other pages must be.
 */
TEST_F(split_huge_alias, private_writes_stay_out_of_shared_memory)
{
	u8 *shared = self->m.shared, val;
	u64 pages_2m, off;

	gmem_pv_run_to_sync(self->vcpu, 1);
	pages_2m = vm_stat(self->vm, "pages_2m");
	TH_LOG("%s: pages_2m %lu after the shared fill",
	       gmem_pv_layout_name(variant->layout), pages_2m);
	/* A THP alias must really be mapped huge, or this case proves nothing. */
	ASSERT_TRUE(variant->layout != GMEM_PV_LAYOUT_SPLIT_THP || pages_2m >= 1)
		TH_LOG("the THP alias was not mapped at 2 MiB");
	for (off = 0; off < SZ_2M; off += PAGE_SIZE)
		ASSERT_EQ(shared[off], 0x11);

	convert(self->m.fd, HA_PRIV_OFF, PAGE_SIZE, PRIV, 0);
	gmem_pv_run_to_sync(self->vcpu, 2);

	for (off = 0; off < SZ_2M; off += PAGE_SIZE) {
		if (off == HA_PRIV_OFF) {
			/* gmem-only: SIGBUS; split: the alias, not the guest's write. */
			if (host_read(shared + off, &val)) {
				ASSERT_NE(val, 0x22)
					TH_LOG("private write in shared memory");
			}
			continue;
		}
		ASSERT_EQ(shared[off], 0x22) TH_LOG("offset 0x%lx", off);
	}
}

/* ---- a nested guest next to private pages ------------------------------ */

#define NP_PAGES	8	/* one aligned group of KVM's PTE_PREFETCH_NUM */
#define NP_SECRET	0x5e

/* What the nested guest read from each private page before writing it. */
static u8 l2_seen[NP_PAGES];

/*
 * The nested guest reads the shared first page, which the shadow MMU
 * faults in for it and, where it may, prefetches the neighbours of from
 * the host's NPT entries; then it reads and writes the private pages
 * after it.
 */
static void l2_prefetch_neighbours(void)
{
	u64 i;

	(void)READ_ONCE(*(u8 *)TEST_GPA);
	for (i = 1; i < NP_PAGES; i++) {
		l2_seen[i] = READ_ONCE(*(u8 *)(TEST_GPA + i * PAGE_SIZE));
		WRITE_ONCE(*(u8 *)(TEST_GPA + i * PAGE_SIZE), NP_SECRET);
	}
	vmmcall();
}

static void guest_nested_prefetch(struct svm_test_data *svm)
{
	u64 off;

	generic_svm_setup(svm, l2_prefetch_neighbours);
	run_guest(svm->vmcb, svm->vmcb_gpa);
	GUEST_ASSERT_EQ(svm->vmcb->control.exit_code, SVM_EXIT_VMMCALL);
	/* The nested guest saw this guest's private memory, and wrote it. */
	for (off = PAGE_SIZE; off < NP_PAGES * PAGE_SIZE; off += PAGE_SIZE) {
		__GUEST_ASSERT(!l2_seen[off / PAGE_SIZE],
			       "the nested guest read 0x%x from private page 0x%lx",
			       l2_seen[off / PAGE_SIZE], off);
		__GUEST_ASSERT(READ_ONCE(*(u8 *)(TEST_GPA + off)) == NP_SECRET,
			       "private page 0x%lx reads 0x%x", off,
			       READ_ONCE(*(u8 *)(TEST_GPA + off)));
	}
	GUEST_DONE();
}

FIXTURE(nested_prefetch) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
};

FIXTURE_VARIANT(nested_prefetch) {
	enum gmem_pv_layout layout;
	u64 gmem_flags;
};

FIXTURE_VARIANT_ADD(nested_prefetch, gmem_only_4k) {
	.layout = GMEM_PV_LAYOUT_GMEM_ONLY,
};

FIXTURE_VARIANT_ADD(nested_prefetch, gmem_only_2m) {
	.layout = GMEM_PV_LAYOUT_GMEM_ONLY,
	.gmem_flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,
};

FIXTURE_VARIANT_ADD(nested_prefetch, split_4k) {
	.layout = GMEM_PV_LAYOUT_SPLIT_4K,
};

FIXTURE_VARIANT_ADD(nested_prefetch, split_4k_2m) {
	.layout = GMEM_PV_LAYOUT_SPLIT_4K,
	.gmem_flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,
};

FIXTURE_VARIANT_ADD(nested_prefetch, split_thp) {
	.layout = GMEM_PV_LAYOUT_SPLIT_THP,
};

FIXTURE_VARIANT_ADD(nested_prefetch, split_thp_2m) {
	.layout = GMEM_PV_LAYOUT_SPLIT_THP,
	.gmem_flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,
};

FIXTURE_SETUP(nested_prefetch)
{
	gva_t svm_gva;
	u64 off;

	self->vm = NULL;
	/* The test machine has both: a skip here would hide the case. */
	ASSERT_TRUE(kvm_cpu_has(X86_FEATURE_SVM) && kvm_cpu_has_npt())
		TH_LOG("this case needs nested SVM with NPT");

	self->vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape,
						 &self->vcpu,
						 guest_nested_prefetch);
	vm_enable_npt(self->vm);
	vcpu_alloc_svm(self->vm, &svm_gva);
	gmem_pv_mem_add(self->vm, &self->m, TEST_SLOT, TEST_GPA, SZ_2M,
			variant->gmem_flags, variant->layout);
	virt_map(self->vm, TEST_GPA, TEST_GPA, NP_PAGES);
	tdp_identity_map_default_memslots(self->vm);
	tdp_map(self->vm, TEST_GPA, TEST_GPA, NP_PAGES * PAGE_SIZE);
	/*
	 * KVM prefetches only from accessed NPT entries, and writably only
	 * from dirty ones (else the nested guest's write faults).
	 */
	for (off = 0; off < NP_PAGES * PAGE_SIZE; off += PAGE_SIZE)
		*tdp_get_pte(self->vm, TEST_GPA + off) |=
			PTE_ACCESSED_MASK(&self->vm->stage2_mmu) |
			PTE_DIRTY_MASK(&self->vm->stage2_mmu);
	vcpu_args_set(self->vcpu, 1, svm_gva);
}

FIXTURE_TEARDOWN(nested_prefetch)
{
	if (!self->vm)
		return;
	kvm_vm_free(self->vm);
	gmem_pv_mem_free(&self->m);
}

/*
 * The first page is shared, the other seven private.  In a split memslot
 * the host has the VMM's memory behind all eight present (a prefetch could
 * map it); the nested guest's writes must land in guest_memfd, not there.
 * In a gmem-only memslot the VMM's address of a private page is the
 * guest_memfd's own mapping, which no fault can map, so a prefetch finds
 * nothing there: those variants pass with or without the prefetch gate.
 */
TEST_F(nested_prefetch, private_neighbours_not_prefetched)
{
	bool split = variant->layout != GMEM_PV_LAYOUT_GMEM_ONLY;
	u8 *shared = self->m.shared;
	struct ucall uc;
	u64 off;

	convert(self->m.fd, 0, PAGE_SIZE, 0, 0);
	for (off = 0; off < NP_PAGES * PAGE_SIZE; off += PAGE_SIZE) {
		if (!off || split)
			shared[off] = 0x11;
	}

	ASSERT_EQ(gmem_pv_run_to_ucall(self->vcpu, &uc), UCALL_DONE);

	ASSERT_EQ(shared[0], 0x11);
	for (off = PAGE_SIZE; split && off < NP_PAGES * PAGE_SIZE; off += PAGE_SIZE)
		ASSERT_EQ(shared[off], 0x11)
			TH_LOG("private write at 0x%lx in the VMM's memory", off);
}

/* ---- a split memslot whose guest_memfd was closed ----------------------- */

#define CG_SIZE		SZ_2M

static void guest_write_after_close(u64 gpa)
{
	WRITE_ONCE(*(u8 *)gpa, 0x33);			/* private */
	GUEST_SYNC(1);
	WRITE_ONCE(*(u8 *)(gpa + PAGE_SIZE), 0x44);	/* private, file closed */
	GUEST_SYNC(2);
	GUEST_DONE();
}

/*
 * The VMM closes a split slot's guest_memfd while the slot stays.  The
 * guest's next access to a private page must fail (a memory-fault exit),
 * not go to the VMM's memory at userspace_addr.
 */
TEST(closed_gmem)
{
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
	struct kvm_vm *vm;
	int r;

	vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &vcpu,
					   guest_write_after_close);
	gmem_pv_mem_add(vm, &m, TEST_SLOT, TEST_GPA, CG_SIZE, 0,
			GMEM_PV_LAYOUT_SPLIT_4K);
	virt_map(vm, TEST_GPA, TEST_GPA, CG_SIZE / PAGE_SIZE);
	vcpu_args_set(vcpu, 1, TEST_GPA);
	memset(m.shared, 0x55, CG_SIZE);

	gmem_pv_run_to_sync(vcpu, 1);
	ASSERT_EQ(m.shared[0], 0x55);

	close(m.fd);
	m.fd = -1;
	r = __vcpu_run(vcpu);
	TH_LOG("KVM_RUN after close: %d (%s), exit reason %u", r,
	       r ? strerror(errno) : "ok", vcpu->run->exit_reason);
	ASSERT_EQ(m.shared[PAGE_SIZE], 0x55) TH_LOG("private write reached the alias");
	ASSERT_EQ(r, -1);
	ASSERT_EQ(errno, EFAULT);
	ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_MEMORY_FAULT);
	ASSERT_EQ(vcpu->run->memory_fault.gpa, TEST_GPA + PAGE_SIZE);
	ASSERT_TRUE(vcpu->run->memory_fault.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE);

	kvm_vm_free(vm);
	munmap(m.alias_map, m.alias_len);
}

/* ---- a pinned page in a 2 MiB folio -------------------------------------- */

#define PF_SIZE		SZ_2M
#define PF_PIN_OFF	(5 * PAGE_SIZE)
#define PF_ROUNDS	2000
#define PF_MAPPERS	2

struct pin_race {
	int fd;
	atomic_bool stop;
	atomic_ulong maps;
};

struct pin_mapper {
	struct pin_race *race;
	u64 off;
};

/*
 * Map, touch and unmap one page of the folio other than the pinned one, as
 * fast as possible: an munmap() that lands between a conversion's reads of
 * the folio's map count and reference count would hide a pin from a check
 * that reads them apart.
 */
static void *pin_race_mapper(void *arg)
{
	struct pin_mapper *pm = arg;
	struct pin_race *p = pm->race;

	while (!atomic_load(&p->stop)) {
		u8 *q = mmap(NULL, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			     p->fd, pm->off);

		TEST_ASSERT(q != MAP_FAILED, "mmap: %s", strerror(errno));
		/* Always shared: the conversions never touch this page. */
		WRITE_ONCE(*q, READ_ONCE(*q) + 1);
		munmap(q, PAGE_SIZE);
		atomic_fetch_add(&p->maps, 1);
	}
	return NULL;
}

/* A long-term pin of one page, as io_uring takes for fixed buffers. */
static int io_uring_pin(void *addr)
{
	struct io_uring_params params = {};
	struct iovec iov = { .iov_base = addr, .iov_len = PAGE_SIZE };
	int ring;

	ring = syscall(__NR_io_uring_setup, 1, &params);
	if (ring < 0)
		return -1;
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1)) {
		close(ring);
		return -1;
	}
	return ring;
}

/*
 * With one page of a 2 MiB folio pinned, no conversion of any part of the
 * folio to private may succeed, however host userspace maps and unmaps its
 * other pages meanwhile; once the pin is gone, it converts.
 */
static void pinned_folio_case(struct __test_metadata *_metadata, bool io_uring)
{
	struct pin_race p = {};
	struct pin_mapper pm[PF_MAPPERS];
	struct kvm_memory_attributes2 attr = { .attributes = PRIV };
	unsigned long eagain = 0;
	pthread_t mapper[PF_MAPPERS];
	struct kvm_vm *vm;
	int pipefd[2], ring = -1, attempt, i;
	u8 *mem, buf[PAGE_SIZE];

	vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	TEST_REQUIRE(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_FLAGS) &
		     GUEST_MEMFD_FLAG_GMEM_PV_HUGE);
	p.fd = vm_create_guest_memfd(vm, PF_SIZE, GUEST_MEMFD_FLAG_MMAP |
				     GUEST_MEMFD_FLAG_INIT_SHARED |
				     GUEST_MEMFD_FLAG_GMEM_PV_HUGE);
	mem = kvm_mmap(PF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, p.fd);
	memset(mem, 0x66, PF_SIZE);
	ASSERT_EQ(vm_stat(vm, "gmem_pv_huge_folios"), 1);

	if (io_uring) {
		ring = io_uring_pin(mem + PF_PIN_OFF);
		ASSERT_GE(ring, 0) TH_LOG("io_uring buffer registration: %s",
					  strerror(errno));
	} else {
		struct iovec iov = { .iov_base = mem + PF_PIN_OFF, .iov_len = PAGE_SIZE };

		ASSERT_EQ(pipe(pipefd), 0);
		ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), PAGE_SIZE);
	}

	for (i = 0; i < PF_MAPPERS; i++) {
		pm[i] = (struct pin_mapper){ .race = &p, .off = (64 + 64 * i) * PAGE_SIZE };
		pthread_create(&mapper[i], NULL, pin_race_mapper, &pm[i]);
	}
	for (attempt = 0; attempt < PF_ROUNDS; attempt++) {
		/* The pinned page itself, or pages of the folio around it. */
		attr.offset = (attempt & 1) ? PF_PIN_OFF : 32 * PAGE_SIZE;
		attr.size = (attempt & 1) ? PAGE_SIZE : 16 * PAGE_SIZE;
		attr.error_offset = 0;
		if (!ioctl(p.fd, KVM_SET_MEMORY_ATTRIBUTES2, &attr))
			break;
		ASSERT_EQ(errno, EAGAIN);
		ASSERT_EQ(attr.error_offset, attr.offset);
		eagain++;
		/* Let the mappers map between conversions, not only wait. */
		sched_yield();
	}
	atomic_store(&p.stop, true);
	for (i = 0; i < PF_MAPPERS; i++)
		pthread_join(mapper[i], NULL);
	TH_LOG("%s pin: %lu of %d conversions refused, %lu maps meanwhile",
	       io_uring ? "io_uring" : "vmsplice", eagain, PF_ROUNDS,
	       atomic_load(&p.maps));
	ASSERT_EQ(attempt, PF_ROUNDS)
		TH_LOG("conversion %d of [0x%llx, +0x%llx) succeeded, a page pinned",
		       attempt, attr.offset, attr.size);

	if (io_uring) {
		close(ring);
	} else {
		ASSERT_EQ(read(pipefd[0], buf, PAGE_SIZE), PAGE_SIZE);
		ASSERT_EQ(buf[0], 0x66);
		close(pipefd[0]);
		close(pipefd[1]);
	}
	/* The pin is gone (an io_uring ring releases its buffers as it dies). */
	for (i = 0; set_attributes2(p.fd, PF_PIN_OFF, PAGE_SIZE, PRIV, 0); i++) {
		ASSERT_EQ(errno, EAGAIN);
		ASSERT_LT(i, 1000);
		usleep(1000);
	}
	ASSERT_FALSE(host_can_read(mem + PF_PIN_OFF));

	kvm_munmap(mem, PF_SIZE);
	close(p.fd);
	kvm_vm_free(vm);
}

TEST(pinned_folio_vmsplice)
{
	pinned_folio_case(_metadata, false);
}

TEST(pinned_folio_io_uring)
{
	pinned_folio_case(_metadata, true);
}

/* ---- a pin taken after a conversion found the folio clean --------------- */

/*
 * A conversion to private checks the references only of folios that a host
 * fault mapped since the last conversion found them clean, and forgets that
 * mark then.  A pin taken after that (on the page shared again and mapped
 * anew) must still refuse the next conversion, in a file of 4 KiB folios and
 * in one of 2 MiB folios, with the pin on the converted page or, in the 2 MiB
 * folio, on another page of it; and the clean conversions themselves, and
 * those of pages no host fault ever reached, succeed.  gmem-only: a
 * guest_memfd of a split slot cannot be mapped by host userspace, so
 * nothing there can pin it.
 */
FIXTURE(repin) {
	struct kvm_vm *vm;
	int fd;
	u8 *mem;
};

FIXTURE_VARIANT(repin) {
	u64 flags;
	u64 pin_off;	/* the page pinned; the page converted is RP_OFF */
};

#define RP_SIZE		SZ_2M
#define RP_OFF		(8 * PAGE_SIZE)

FIXTURE_VARIANT_ADD(repin, folio_4k) {
	.flags = 0,
	.pin_off = RP_OFF,
};

FIXTURE_VARIANT_ADD(repin, folio_2m) {
	.flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,
	.pin_off = RP_OFF,
};

FIXTURE_VARIANT_ADD(repin, folio_2m_other_page) {
	.flags = GUEST_MEMFD_FLAG_GMEM_PV_HUGE,
	.pin_off = 300 * PAGE_SIZE,
};

FIXTURE_SETUP(repin)
{
	self->vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	if (variant->flags)
		TEST_REQUIRE(vm_check_cap(self->vm, KVM_CAP_GUEST_MEMFD_FLAGS) &
			     variant->flags);
	self->fd = vm_create_guest_memfd(self->vm, RP_SIZE,
					 GUEST_MEMFD_FLAG_MMAP |
					 GUEST_MEMFD_FLAG_INIT_SHARED |
					 variant->flags);
	self->mem = kvm_mmap(RP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			     self->fd);
}

FIXTURE_TEARDOWN(repin)
{
	kvm_munmap(self->mem, RP_SIZE);
	close(self->fd);
	kvm_vm_free(self->vm);
}

TEST_F(repin, pin_after_clean_conversion_refuses)
{
	struct iovec iov = { .iov_base = self->mem + variant->pin_off,
			     .iov_len = PAGE_SIZE };
	int pipefd[2], round, i;
	u8 buf[PAGE_SIZE];

	/* Never reached by host userspace: converts, and back. */
	ASSERT_EQ(set_attributes2(self->fd, RP_SIZE - PAGE_SIZE, PAGE_SIZE,
				  PRIV, 0), 0);
	ASSERT_EQ(set_attributes2(self->fd, RP_SIZE - PAGE_SIZE, PAGE_SIZE,
				  0, 0), 0);

	for (round = 0; round < 3; round++) {
		/* Mapped and unpinned: the conversion finds it clean. */
		memset(self->mem + RP_OFF, 0x40 + round, PAGE_SIZE);
		self->mem[variant->pin_off] = 0x40 + round;
		ASSERT_EQ(set_attributes2(self->fd, RP_OFF, PAGE_SIZE, PRIV, 0), 0)
			TH_LOG("round %d: clean conversion: %s", round,
			       strerror(errno));
		ASSERT_FALSE(host_can_read(self->mem + RP_OFF));
		ASSERT_EQ(set_attributes2(self->fd, RP_OFF, PAGE_SIZE, 0,
					  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE), 0);

		/* Mapped anew and pinned: refused, whole request. */
		ASSERT_EQ(pipe(pipefd), 0);
		ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), PAGE_SIZE);
		for (i = 0; i < 20; i++) {
			ASSERT_NE(set_attributes2(self->fd, RP_OFF, PAGE_SIZE,
						  PRIV, 0), 0)
				TH_LOG("round %d, try %d: a pinned %s became private",
				       round, i, variant->pin_off == RP_OFF ?
				       "page" : "folio");
			ASSERT_EQ(errno, EAGAIN);
		}
		ASSERT_TRUE(host_can_read(self->mem + RP_OFF));

		/* The pin is gone: converts again. */
		ASSERT_EQ(read(pipefd[0], buf, PAGE_SIZE), PAGE_SIZE);
		ASSERT_EQ(buf[0], 0x40 + round);
		close(pipefd[0]);
		close(pipefd[1]);
		ASSERT_EQ(set_attributes2(self->fd, RP_OFF, PAGE_SIZE, PRIV, 0), 0);
		ASSERT_FALSE(host_can_read(self->mem + RP_OFF));
		ASSERT_EQ(set_attributes2(self->fd, RP_OFF, PAGE_SIZE, 0,
					  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE), 0);
	}
}

/* ---- the guest owns its contents ------------------------------------------ */

#define GO_PAGES	4

static void guest_owned_code(u64 gpa)
{
	u64 i;

	for (i = 0; i < GO_PAGES; i++)
		memset((void *)(gpa + i * PAGE_SIZE), 0x77 + i, PAGE_SIZE);
	GUEST_SYNC(1);
	/* The guest shares page 3 itself, with what it holds. */
	GUEST_ASSERT_EQ(kvm_hypercall(KVM_HC_MAP_GPA_RANGE, gpa + 3 * PAGE_SIZE,
				      1, 0, 0), 0);
	GUEST_SYNC(2);
	GUEST_DONE();
}

/*
 * The guest fills its private pages.  Without the mode, host userspace can
 * share one with its contents (the baseline that shows the check can see a
 * leak); with it, PRESERVE is refused, the default zeroes, and the mode
 * cannot be dropped; the guest's own hypercall still shares with contents.
 */
TEST(guest_owned)
{
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
	struct kvm_vm *vm;
	u64 i;

	vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &vcpu,
					   guest_owned_code);
	gmem_pv_mem_add(vm, &m, TEST_SLOT, TEST_GPA, GO_PAGES * PAGE_SIZE, 0,
			GMEM_PV_LAYOUT_GMEM_ONLY);
	virt_map(vm, TEST_GPA, TEST_GPA, GO_PAGES);
	vcpu_args_set(vcpu, 1, TEST_GPA);
	vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, KVM_GMEM_PV_HC_ENABLE);
	gmem_pv_run_to_sync(vcpu, 1);

	/* Mode off: the VMM can read page 0 by sharing it with its contents. */
	convert(m.fd, 0, PAGE_SIZE, 0, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	ASSERT_EQ(m.gmem[0], 0x77);

	vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
		      KVM_GMEM_PV_HC_ENABLE | KVM_GMEM_PV_HC_GUEST_OWNED);
	ASSERT_EQ(set_attributes2(m.fd, PAGE_SIZE, PAGE_SIZE, 0,
				  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE), -1);
	ASSERT_EQ(errno, EPERM);
	ASSERT_FALSE(host_can_read(m.gmem + PAGE_SIZE));
	/* The default and ZERO share zeroed pages. */
	convert(m.fd, PAGE_SIZE, PAGE_SIZE, 0, 0);
	convert(m.fd, 2 * PAGE_SIZE, PAGE_SIZE, 0, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	for (i = PAGE_SIZE; i < 3 * PAGE_SIZE; i++)
		ASSERT_EQ(m.gmem[i], 0) TH_LOG("byte 0x%lx", i);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
				  KVM_GMEM_PV_HC_ENABLE), -1);
	ASSERT_EQ(errno, EPERM);

	/* Page 3 is still private; the guest shares it with its contents. */
	ASSERT_FALSE(host_can_read(m.gmem + 3 * PAGE_SIZE));
	gmem_pv_run_to_sync(vcpu, 2);
	ASSERT_EQ(m.gmem[3 * PAGE_SIZE], 0x7a);
	ASSERT_EQ(m.gmem[4 * PAGE_SIZE - 1], 0x7a);

	kvm_vm_free(vm);
	gmem_pv_mem_free(&m);
}

TEST_HARNESS_MAIN
