// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: KVM_HC_MAP_GPA_RANGE serviced in the kernel.
 *
 * Needs kvm.gmem_in_place_conversion=1.  The guest converts its own
 * guest_memfd-backed memory by hypercall and the host checks contents and
 * its own access at every step; every bad request returns its documented
 * code and the VM keeps running; RBX, RCX and RDX are never written, as
 * upstream's callers declare them inputs only; a 1 GiB range converts
 * through restarts; two vCPUs convert and touch overlapping ranges; the
 * optional exit after a conversion reports it, and only what changed; the
 * capability's arguments are checked and its guest-owned mode cannot be
 * dropped; and with the capability off the upstream KVM_EXIT_HYPERCALL
 * still happens.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define X86_FEATURE_KVM_GMEM_PV	KVM_X86_CPU_FEATURE(KVM_CPUID_FEATURES, 0, EAX, \
						    KVM_FEATURE_GMEM_PV)
#define TEST_GPA	SZ_4G
#define TEST_SLOT	1
#define PRIV		KVM_GMEM_PV_HC_PRIVATE
#define H2M		KVM_MAP_GPA_RANGE_PAGE_SZ_2M
#define H1G		KVM_MAP_GPA_RANGE_PAGE_SZ_1G

/* What the guest reports back for one hypercall. */
struct hc_result {
	u64 ret, rbx, rcx;
};

/*
 * KVM_HC_MAP_GPA_RANGE with the registers it leaves behind, which must be
 * the ones passed: kvm_hypercall3() declares RBX and RCX inputs only.
 */
static struct hc_result guest_map_gpa_range(u64 gpa, u64 npages, u64 attrs)
{
	struct hc_result r;

	asm volatile("test %[amd], %[amd]\n\t"
		     "jnz 1f\n\t"
		     "vmcall\n\t"
		     "jmp 2f\n\t"
		     "1: vmmcall\n\t"
		     "2:"
		     : "=a"(r.ret), "+b"(gpa), "+c"(npages)
		     : "a"((u64)KVM_HC_MAP_GPA_RANGE), "d"(attrs),
		       [amd] "r"(host_cpu_is_amd_compatible)
		     : "memory");
	r.rbx = gpa;
	r.rcx = npages;
	return r;
}

/* The hypercall, asserting that it left RBX and RCX as they were passed. */
static struct hc_result guest_hc(u64 gpa, u64 npages, u64 attrs)
{
	struct hc_result r = guest_map_gpa_range(gpa, npages, attrs);

	__GUEST_ASSERT(r.rbx == gpa && r.rcx == npages,
		       "map_gpa_range(0x%lx, %lu, 0x%lx) = %ld changed RBX/RCX to 0x%lx/%lu",
		       gpa, npages, attrs, (long)r.ret, r.rbx, r.rcx);
	return r;
}

static void guest_map(u64 gpa, u64 npages, u64 attrs)
{
	struct hc_result r = guest_hc(gpa, npages, attrs);

	__GUEST_ASSERT(!r.ret, "map_gpa_range(0x%lx, %lu, 0x%lx) = %ld",
		       gpa, npages, attrs, (long)r.ret);
}

static void guest_fill(u64 gpa, u64 size, u8 expect, u8 fill)
{
	u8 *mem = (u8 *)gpa;
	u64 i;

	for (i = 0; i < size; i += 512) {
		__GUEST_ASSERT(READ_ONCE(mem[i]) == expect,
			       "gpa 0x%lx: 0x%x, expected 0x%x", gpa + i, mem[i], expect);
		WRITE_ONCE(mem[i], fill);
	}
}

struct env {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu[2];
	struct gmem_pv_mem m;
	int fd;
	u64 size;
	u8 *mem;	/* where host userspace sees shared pages */
};

static void env_create_layout(struct env *e, void *guest_code, int nr_vcpus,
			      u64 size, u64 gmem_flags, u64 hc_flags,
			      enum gmem_pv_layout layout)
{
	e->size = size;
	e->vm = __vm_create_with_vcpus(gmem_pv_protected_shape, nr_vcpus, 0,
				       guest_code, e->vcpu);
	gmem_pv_mem_add(e->vm, &e->m, TEST_SLOT, TEST_GPA, size, gmem_flags,
			layout);
	e->fd = e->m.fd;
	e->mem = e->m.shared;
	/* Large ranges get 2 MiB guest mappings: fewer page tables in slot 0. */
	if (size >= SZ_2M && !(size % SZ_2M))
		virt_map_level(e->vm, TEST_GPA, TEST_GPA, size, PG_LEVEL_2M);
	else
		virt_map(e->vm, TEST_GPA, TEST_GPA, size / PAGE_SIZE);
	if (hc_flags)
		vm_enable_cap(e->vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, hc_flags);
}

static void env_create(struct env *e, void *guest_code, int nr_vcpus, u64 size,
		       u64 gmem_flags, u64 hc_flags)
{
	env_create_layout(e, guest_code, nr_vcpus, size, gmem_flags, hc_flags,
			  GMEM_PV_LAYOUT_GMEM_ONLY);
}

static void env_destroy(struct env *e)
{
	kvm_vm_free(e->vm);
	gmem_pv_mem_free(&e->m);
}

/*
 * The cases whose claims hold in every memslot layout run in each
 * (GMEM_PV_LAYOUT_VARIANTS); the others say why they are gmem-only.
 */
FIXTURE(layout) {
	struct env e;
};

FIXTURE_VARIANT(layout) {
	enum gmem_pv_layout layout;
};

GMEM_PV_LAYOUT_VARIANTS(layout);

FIXTURE_SETUP(layout)
{
}

FIXTURE_TEARDOWN(layout)
{
}

static bool is_private(struct env *e, u64 offset)
{
	return gmem_pv_is_private(e->fd, offset);
}

static void run_to_done(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	TEST_ASSERT_EQ(gmem_pv_run_to_ucall(vcpu, &uc), UCALL_DONE);
}

TEST(capability)
{
	struct kvm_vm *vm;

	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
		.args = { KVM_GMEM_PV_HC_ENABLE },
	};
	int i;

	ASSERT_EQ(kvm_check_cap(KVM_CAP_GMEM_PV_MAP_GPA_RANGE),
		  KVM_GMEM_PV_HC_ENABLE | KVM_GMEM_PV_HC_EXIT_ON_CONVERSION |
		  KVM_GMEM_PV_HC_GUEST_OWNED);

	vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, 1ULL << 3), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
				  KVM_GMEM_PV_HC_EXIT_ON_CONVERSION), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
				  KVM_GMEM_PV_HC_GUEST_OWNED), -1);
	ASSERT_EQ(errno, EINVAL);
	/* The arguments the capability does not use must be 0. */
	for (i = 1; i < 4; i++) {
		cap.args[i] = 1;
		ASSERT_EQ(__vm_ioctl(vm, KVM_ENABLE_CAP, &cap), -1);
		ASSERT_EQ(errno, EINVAL);
		cap.args[i] = 0;
	}
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
				  KVM_GMEM_PV_HC_ENABLE), 0);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, 0), 0);

	/* The guest-owned mode, once on, stays on. */
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
				  KVM_GMEM_PV_HC_ENABLE | KVM_GMEM_PV_HC_GUEST_OWNED), 0);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
				  KVM_GMEM_PV_HC_ENABLE), -1);
	ASSERT_EQ(errno, EPERM);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, 0), -1);
	ASSERT_EQ(errno, EPERM);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
				  KVM_GMEM_PV_HC_ENABLE | KVM_GMEM_PV_HC_GUEST_OWNED |
				  KVM_GMEM_PV_HC_EXIT_ON_CONVERSION), 0);
	kvm_vm_free(vm);

	/* Not for VMs whose guest_memfds own nothing. */
	vm = vm_create_barebones();
	ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE), 0);
	ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
				  KVM_GMEM_PV_HC_ENABLE), -1);
	ASSERT_EQ(errno, EINVAL);
	kvm_vm_free(vm);

	/*
	 * The feature bit is a property of one VM, which its VMM sets: a VMM
	 * passing supported CPUID through must not make a guest believe it
	 * is protected.
	 */
	ASSERT_FALSE(kvm_cpu_has(X86_FEATURE_KVM_GMEM_PV));
}

/*
 * Shared -> private -> shared, by the guest itself.  In a gmem-only slot
 * the conversion is in place: what the guest wrote while private is there
 * when the page is shared again.  In a split slot private pages are the
 * guest_memfd's and shared ones the VMM's memory: what the guest wrote
 * while private never appears in the VMM's memory.
 */
#define RT_SIZE		SZ_2M

static void guest_round_trip(u64 split)
{
	guest_fill(TEST_GPA, RT_SIZE, 0xaa, 0xbb);		/* shared */
	guest_map(TEST_GPA, RT_SIZE / PAGE_SIZE, PRIV | H2M);
	GUEST_SYNC(1);
	guest_fill(TEST_GPA, RT_SIZE, split ? 0 : 0xbb, 0xcc);	/* private */
	guest_map(TEST_GPA, RT_SIZE / PAGE_SIZE, 0);
	GUEST_SYNC(2);
	guest_fill(TEST_GPA, RT_SIZE, 0xdd, 0xee);		/* shared again */
	GUEST_DONE();
}

TEST_F(layout, guest_converts_in_place)
{
	bool split = variant->layout != GMEM_PV_LAYOUT_GMEM_ONLY;
	struct env *e = &self->e;
	u8 v;
	u64 i;

	env_create_layout(e, guest_round_trip, 1, RT_SIZE,
			  GUEST_MEMFD_FLAG_INIT_SHARED, KVM_GMEM_PV_HC_ENABLE,
			  variant->layout);
	vcpu_args_set(e->vcpu[0], 1, split);
	memset(e->mem, 0xaa, RT_SIZE);

	gmem_pv_run_to_sync(e->vcpu[0], 1);
	for (i = 0; i < RT_SIZE; i += PAGE_SIZE) {
		ASSERT_TRUE(is_private(e, i));
		/* gmem-only: unreadable; split: the VMM's memory as the guest left it. */
		ASSERT_TRUE(split ? e->mem[i] == 0xbb : !host_read(e->mem + i, &v))
			TH_LOG("page 0x%lx", i);
	}
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_pages_to_private"), RT_SIZE / PAGE_SIZE);
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_hint_2m_pages"), RT_SIZE / PAGE_SIZE);

	gmem_pv_run_to_sync(e->vcpu[0], 2);
	for (i = 0; i < RT_SIZE; i += 512) {
		ASSERT_FALSE(is_private(e, i & ~(PAGE_SIZE - 1)));
		ASSERT_TRUE(host_read(e->mem + i, &v));
		/* In place, or never in the VMM's memory. */
		ASSERT_EQ(v, split ? 0xbb : 0xcc);
		e->mem[i] = 0xdd;
	}
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_pages_to_shared"), RT_SIZE / PAGE_SIZE);

	run_to_done(e->vcpu[0]);
	ASSERT_EQ(e->mem[0], 0xee);
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_hc_calls"), 2);
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_hc_errors"), 0);
	env_destroy(e);
}

/*
 * Every bad request: the documented code, RBX/RCX as passed, nothing
 * converted but what lies in the slot, and the guest keeps running.
 */
#define BAD_NPAGES	16

static void expect_hc(u64 gpa, u64 npages, u64 attrs, u64 code)
{
	struct hc_result r = guest_hc(gpa, npages, attrs);

	__GUEST_ASSERT(r.ret == -code, "(0x%lx, %lu, 0x%lx): ret %ld",
		       gpa, npages, attrs, (long)r.ret);
}

static void guest_bad_requests(void)
{
	const u64 base = TEST_GPA, n = BAD_NPAGES;

	expect_hc(base + 1, 1, PRIV, KVM_EINVAL);
	expect_hc(base, 0, PRIV, KVM_EINVAL);
	expect_hc(base, -1ULL, PRIV, KVM_EINVAL);
	expect_hc(base, 1, PRIV | (1ULL << 5), KVM_EINVAL);
	expect_hc(base, 1, PRIV | 3, KVM_EINVAL);
	expect_hc(base, 1, 0xf, KVM_EINVAL);
	/* Not backed by guest_memfd: the code and data slot. */
	expect_hc(0, 1, PRIV, KVM_EFAULT);
	/* No memslot at all. */
	expect_hc(base + SZ_1G, 1, PRIV, KVM_EFAULT);
	/* Runs off the end of the guest_memfd slot: converts up to it. */
	expect_hc(base + 8 * PAGE_SIZE, n, PRIV, KVM_EFAULT);
	GUEST_SYNC(1);

	/* The VM is fine: a good request works. */
	guest_map(base, 8, PRIV);
	GUEST_DONE();
}

TEST_F(layout, bad_requests)
{
	struct env *e = &self->e;
	int i;

	env_create_layout(e, guest_bad_requests, 1, BAD_NPAGES * PAGE_SIZE,
			  GUEST_MEMFD_FLAG_INIT_SHARED, KVM_GMEM_PV_HC_ENABLE,
			  variant->layout);
	gmem_pv_run_to_sync(e->vcpu[0], 1);
	/* Only the part inside the slot, pages 8..15, was converted. */
	for (i = 0; i < BAD_NPAGES; i++)
		ASSERT_EQ(is_private(e, i * PAGE_SIZE), i >= 8);
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_hc_errors"), 9);
	run_to_done(e->vcpu[0]);
	for (i = 0; i < BAD_NPAGES; i++)
		ASSERT_TRUE(is_private(e, i * PAGE_SIZE));
	env_destroy(e);
}

/*
 * A page the host pins cannot go private: the guest gets EAGAIN.  Only
 * gmem-only slots: a split slot's shared pages are not guest_memfd's, so a
 * pin on them holds nothing that could become private.
 */
static void guest_pinned(void)
{
	struct hc_result r = guest_hc(TEST_GPA, 4, PRIV);

	GUEST_SYNC(r.ret);
	guest_map(TEST_GPA, 4, PRIV);
	GUEST_DONE();
}

TEST(pinned_page_eagain)
{
	struct iovec iov;
	struct ucall uc;
	struct env e;
	char buf[PAGE_SIZE];
	int pipefd[2];

	env_create(&e, guest_pinned, 1, 4 * PAGE_SIZE, GUEST_MEMFD_FLAG_INIT_SHARED,
		   KVM_GMEM_PV_HC_ENABLE);
	memset(e.mem, 1, 4 * PAGE_SIZE);
	iov.iov_base = e.mem + 2 * PAGE_SIZE;
	iov.iov_len = PAGE_SIZE;
	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), PAGE_SIZE);

	ASSERT_EQ(gmem_pv_run_to_ucall(e.vcpu[0], &uc), UCALL_SYNC);
	ASSERT_EQ(uc.args[1], (u64)-KVM_GMEM_PV_EAGAIN);
	/* Nothing converted. */
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_pages_to_private"), 0);

	ASSERT_EQ(read(pipefd[0], buf, PAGE_SIZE), PAGE_SIZE);
	run_to_done(e.vcpu[0]);
	close(pipefd[0]);
	close(pipefd[1]);
	env_destroy(&e);
}

/*
 * 1 GiB converts in steps; with a signal arriving the whole time, the
 * hypercall restarts (RIP and the registers kept, KVM resuming where it
 * stopped) and still completes once, each page converted once.
 */
#define BIG_SIZE	SZ_1G
#define BIG_ROUNDS	4

static void guest_big(void)
{
	int i;

	for (i = 0; i < BIG_ROUNDS; i++) {
		guest_map(TEST_GPA, BIG_SIZE / PAGE_SIZE, PRIV | H1G);
		guest_map(TEST_GPA, BIG_SIZE / PAGE_SIZE, H1G);
	}
	GUEST_DONE();
}

static void sigusr_handler(int sig)
{
}

struct kicker {
	pthread_t target;
	atomic_bool stop;
	atomic_ulong sent;
};

static void *kick(void *arg)
{
	struct kicker *k = arg;

	while (!atomic_load(&k->stop)) {
		pthread_kill(k->target, SIGUSR1);
		atomic_fetch_add(&k->sent, 1);
		usleep(200);
	}
	return NULL;
}

TEST_F(layout, one_gigabyte_restarts)
{
	struct sigaction sa = { .sa_handler = sigusr_handler };
	struct kicker k = { .target = pthread_self() };
	struct env *e = &self->e;
	pthread_t kicker;
	struct ucall uc;
	u64 cmd;

	sigaction(SIGUSR1, &sa, NULL);
	env_create_layout(e, guest_big, 1, BIG_SIZE, GUEST_MEMFD_FLAG_INIT_SHARED,
			  KVM_GMEM_PV_HC_ENABLE, variant->layout);

	pthread_create(&kicker, NULL, kick, &k);
	/* Signals arrive before the first request does. */
	while (atomic_load(&k.sent) < 2)
		usleep(100);
	/* KVM_RUN returns EINTR at each signal; run again until the guest is done. */
	for (;;) {
		if (__vcpu_run(e->vcpu[0]) && errno == EINTR)
			continue;
		TEST_ASSERT_KVM_EXIT_REASON(e->vcpu[0], KVM_EXIT_IO);
		cmd = get_ucall(e->vcpu[0], &uc);
		if (cmd == UCALL_ABORT)
			REPORT_GUEST_ASSERT(uc);
		break;
	}
	atomic_store(&k.stop, true);
	pthread_join(kicker, NULL);
	ASSERT_EQ(cmd, UCALL_DONE);

	TH_LOG("%lu passes, %lu restarts, %lu signals",
	       vm_stat(e->vm, "gmem_pv_hc_calls"), vm_stat(e->vm, "gmem_pv_hc_restarts"),
	       atomic_load(&k.sent));
	ASSERT_GT(vm_stat(e->vm, "gmem_pv_hc_restarts"), 0);
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_hc_calls"),
		  2 * BIG_ROUNDS + vm_stat(e->vm, "gmem_pv_hc_restarts"));
	/* Resumed, not redone: every page converted once per request. */
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_pages_to_private"),
		  (u64)BIG_ROUNDS * BIG_SIZE / PAGE_SIZE);
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_pages_to_shared"),
		  (u64)BIG_ROUNDS * BIG_SIZE / PAGE_SIZE);
	ASSERT_EQ(vm_stat(e->vm, "gmem_pv_hint_1g_pages"),
		  2ULL * BIG_ROUNDS * BIG_SIZE / PAGE_SIZE);
	ASSERT_FALSE(is_private(e, BIG_SIZE - PAGE_SIZE));
	env_destroy(e);
}

/*
 * Two vCPUs convert overlapping ranges back and forth while touching them;
 * each page's byte 0 counts the touches of one vCPU, byte 1 of the other.
 * Gmem-only: the counts survive conversions only where they are in place.
 */
#define RACE_PAGES	64
#define RACE_ROUNDS	200
#define RACE_MAX_EAGAIN	10000

/*
 * EAGAINs each vCPU got: the other vCPU's fault on a page being made
 * private holds a reference for a moment, and under load that can outlast
 * KVM's own few retries.  The ABI says to retry, so the guest does, from
 * where the host stopped.
 */
static u64 race_eagain[2];

static void guest_map_retrying(u64 id, u64 gpa, u64 npages, u64 attrs)
{
	struct hc_result r;

	for (;;) {
		r = guest_hc(gpa, npages, attrs);
		if (r.ret != -KVM_GMEM_PV_EAGAIN)
			break;
		__GUEST_ASSERT(++race_eagain[id] < RACE_MAX_EAGAIN,
			       "EAGAIN %lu times", race_eagain[id]);
	}
	__GUEST_ASSERT(!r.ret, "map_gpa_range(0x%lx, %lu, 0x%lx) = %ld",
		       gpa, npages, attrs, (long)r.ret);
}

static void guest_race(u64 id)
{
	u8 *mem = (u8 *)TEST_GPA;
	u64 round, i;

	for (round = 0; round < RACE_ROUNDS; round++) {
		u64 first = (round * 7 + id * 13) % (RACE_PAGES / 2);
		u64 attrs = ((round + id) & 1) ? 0 : PRIV;

		guest_map_retrying(id, TEST_GPA + first * PAGE_SIZE,
				   RACE_PAGES / 2, attrs);
		for (i = 0; i < RACE_PAGES; i++)
			mem[i * PAGE_SIZE + id]++;
	}
	GUEST_DONE();
}

static void *race_vcpu(void *arg)
{
	run_to_done(arg);
	return NULL;
}

TEST(two_vcpus_overlapping)
{
	pthread_t t[2];
	struct env e;
	int i;

	env_create(&e, guest_race, 2, RACE_PAGES * PAGE_SIZE, 0, KVM_GMEM_PV_HC_ENABLE);
	vcpu_args_set(e.vcpu[0], 1, 0);
	vcpu_args_set(e.vcpu[1], 1, 1);
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, race_vcpu, e.vcpu[i]);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);

	ASSERT_EQ(set_attributes2(e.fd, 0, RACE_PAGES * PAGE_SIZE, 0, 0), 0);
	for (i = 0; i < RACE_PAGES; i++) {
		ASSERT_EQ(e.mem[i * PAGE_SIZE], RACE_ROUNDS);
		ASSERT_EQ(e.mem[i * PAGE_SIZE + 1], RACE_ROUNDS);
	}
	/* Every error the host returned was an EAGAIN the guest retried. */
	sync_global_from_guest(e.vm, race_eagain);
	ksft_print_msg("EAGAIN retried: %lu + %lu\n", race_eagain[0], race_eagain[1]);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hc_errors"), race_eagain[0] + race_eagain[1]);
	env_destroy(&e);
}

/*
 * The optional exit reports each conversion, and only one that changed
 * something; the guest goes on.
 */
static void guest_exit_after(void)
{
	guest_map(TEST_GPA, 2, PRIV | H2M);
	guest_map(TEST_GPA + PAGE_SIZE, 1, 0);
	/* Already shared: nothing changes, nothing is reported. */
	guest_map(TEST_GPA + PAGE_SIZE, 1, 0);
	GUEST_SYNC(3);
	/* Converts the two pages of the slot, then fails past its end. */
	GUEST_SYNC(guest_hc(TEST_GPA, 4, 0).ret);
	GUEST_DONE();
}

TEST_F(layout, exit_on_conversion)
{
	struct env *e = &self->e;
	struct kvm_run *run;

	env_create_layout(e, guest_exit_after, 1, 2 * PAGE_SIZE,
			  GUEST_MEMFD_FLAG_INIT_SHARED,
			  KVM_GMEM_PV_HC_ENABLE | KVM_GMEM_PV_HC_EXIT_ON_CONVERSION,
			  variant->layout);
	run = e->vcpu[0]->run;

	vcpu_run(e->vcpu[0]);
	TEST_ASSERT_KVM_EXIT_REASON(e->vcpu[0], KVM_EXIT_HYPERCALL);
	ASSERT_TRUE(run->hypercall.flags & KVM_EXIT_HYPERCALL_GMEM_PV_CONVERTED);
	ASSERT_EQ(run->hypercall.args[0], TEST_GPA);
	ASSERT_EQ(run->hypercall.args[1], 2);
	ASSERT_EQ(run->hypercall.args[2], PRIV | H2M);
	/* Already done when the VMM hears of it. */
	ASSERT_TRUE(is_private(e, 0));

	vcpu_run(e->vcpu[0]);
	TEST_ASSERT_KVM_EXIT_REASON(e->vcpu[0], KVM_EXIT_HYPERCALL);
	ASSERT_EQ(run->hypercall.args[0], TEST_GPA + PAGE_SIZE);
	ASSERT_EQ(run->hypercall.args[1], 1);
	ASSERT_EQ(run->hypercall.ret, 0);
	ASSERT_FALSE(is_private(e, PAGE_SIZE));

	/* The repeated request changed nothing: no exit before the sync. */
	gmem_pv_run_to_sync(e->vcpu[0], 3);

	/* A pass that converts part and then fails reports both. */
	vcpu_run(e->vcpu[0]);
	TEST_ASSERT_KVM_EXIT_REASON(e->vcpu[0], KVM_EXIT_HYPERCALL);
	ASSERT_EQ(run->hypercall.args[0], TEST_GPA);
	ASSERT_EQ(run->hypercall.args[1], 2);
	ASSERT_EQ(run->hypercall.ret, (u64)-KVM_EFAULT);
	ASSERT_FALSE(is_private(e, 0));
	run->hypercall.ret = 0;		/* ignored: the guest still gets EFAULT */
	gmem_pv_run_to_sync(e->vcpu[0], (u64)-KVM_EFAULT);

	run_to_done(e->vcpu[0]);
	env_destroy(e);
}

/* Without the capability, the request goes to the VMM as upstream does. */
static void guest_upstream(void)
{
	u64 ret = kvm_hypercall(KVM_HC_MAP_GPA_RANGE, TEST_GPA, 1, PRIV, 0);

	GUEST_SYNC(ret);
	GUEST_DONE();
}

TEST(capability_off_exits_to_vmm)
{
	struct kvm_run *run;
	struct env e;
	u8 v;

	env_create(&e, guest_upstream, 1, PAGE_SIZE, GUEST_MEMFD_FLAG_INIT_SHARED, 0);
	vm_enable_cap(e.vm, KVM_CAP_EXIT_HYPERCALL, BIT(KVM_HC_MAP_GPA_RANGE));
	run = e.vcpu[0]->run;

	vcpu_run(e.vcpu[0]);
	TEST_ASSERT_KVM_EXIT_REASON(e.vcpu[0], KVM_EXIT_HYPERCALL);
	ASSERT_EQ(run->hypercall.nr, KVM_HC_MAP_GPA_RANGE);
	ASSERT_FALSE(run->hypercall.flags & KVM_EXIT_HYPERCALL_GMEM_PV_CONVERTED);
	ASSERT_EQ(run->hypercall.args[0], TEST_GPA);
	/* KVM converted nothing: the VMM does it, here with the gmem ioctl. */
	ASSERT_TRUE(host_read(e.mem, &v));
	run->hypercall.ret = 0;

	gmem_pv_run_to_sync(e.vcpu[0], 0);
	run_to_done(e.vcpu[0]);
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hc_calls"), 0);
	env_destroy(&e);
}

/*
 * Code in private memory: KVM must fetch it itself to emulate an MMIO store
 * and, on SVM without NRIPS (as under QEMU TCG), to skip a VMMCALL.  The
 * code is written while the page is shared, then the page made private.
 */
#define MMIO_GPA	(TEST_GPA + SZ_1G)

/*
 * A guest that runs @code from the first page of a 2-page guest_memfd slot,
 * with the in-kernel service on and RBX/RCX/RDX set up to make the second
 * page private.  @vmcall_at is the offset of the 0f 01 d9 (VMMCALL) to turn
 * into VMCALL on Intel.
 */
static void env_create_with_code(struct env *e, u8 *code, size_t len,
				 size_t vmcall_at)
{
	struct kvm_regs regs;

	if (!host_cpu_is_amd_compatible)
		code[vmcall_at + 2] = 0xc1;

	env_create(e, NULL, 1, 2 * PAGE_SIZE, GUEST_MEMFD_FLAG_INIT_SHARED,
		   KVM_GMEM_PV_HC_ENABLE);
	memcpy(e->mem, code, len);

	vcpu_regs_get(e->vcpu[0], &regs);
	regs.rip = TEST_GPA;
	regs.rbx = TEST_GPA + PAGE_SIZE;
	regs.rcx = 1;
	regs.rdx = PRIV;
	vcpu_regs_set(e->vcpu[0], &regs);
}

TEST(emulation_from_private_code)
{
	u8 code[] = {
		0xb8, 0x42, 0x00, 0x00, 0x00,	/* mov $0x42, %eax */
		0x89, 0x07,			/* mov %eax, (%rdi): MMIO */
		0xb8, KVM_HC_MAP_GPA_RANGE, 0x00, 0x00, 0x00, /* mov $nr, %eax */
		0x0f, 0x01, 0xd9,		/* vmmcall (vmcall: 0xc1) */
		0xe6, 0x80,			/* out %al, $0x80 */
	};
	struct kvm_regs regs;
	struct kvm_run *run;
	struct env e;
	u8 v;

	env_create_with_code(&e, code, sizeof(code), 12);
	virt_pg_map(e.vm, MMIO_GPA, MMIO_GPA);
	ASSERT_EQ(set_attributes2(e.fd, 0, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), 0);
	ASSERT_FALSE(host_read(e.mem, &v));

	vcpu_regs_get(e.vcpu[0], &regs);
	regs.rdi = MMIO_GPA;
	vcpu_regs_set(e.vcpu[0], &regs);
	run = e.vcpu[0]->run;

	vcpu_run(e.vcpu[0]);
	TEST_ASSERT_KVM_EXIT_REASON(e.vcpu[0], KVM_EXIT_MMIO);
	ASSERT_EQ(run->mmio.phys_addr, MMIO_GPA);
	ASSERT_TRUE(run->mmio.is_write);
	ASSERT_EQ(run->mmio.len, 4);
	ASSERT_EQ(run->mmio.data[0], 0x42);

	vcpu_run(e.vcpu[0]);
	TEST_ASSERT_KVM_EXIT_REASON(e.vcpu[0], KVM_EXIT_IO);
	ASSERT_EQ(run->io.port, 0x80);
	vcpu_regs_get(e.vcpu[0], &regs);
	ASSERT_EQ(regs.rax, 0);		/* the hypercall's result */
	ASSERT_EQ(regs.rbx, TEST_GPA + PAGE_SIZE);	/* inputs only */
	ASSERT_EQ(regs.rcx, 1);
	/* Stopped at the OUT (completed on the next KVM_RUN): VMMCALL skipped. */
	ASSERT_EQ(regs.rip, TEST_GPA + sizeof(code) - 2);
	ASSERT_FALSE(host_read(e.mem + PAGE_SIZE, &v));
	env_destroy(&e);
}

/* Make @gva reachable from CPL 3: set the U bit at every level. */
static void make_user_accessible(struct kvm_vm *vm, u64 gva)
{
	u64 pa = vm->mmu.pgd, *pte;
	int level;

	for (level = vm->mmu.pgtable_levels; level >= 1; level--) {
		pte = (u64 *)addr_gpa2hva(vm, pa) + ((gva >> (12 + 9 * (level - 1))) & 511);
		*pte |= BIT_ULL(2);
		pa = PTE_GET_PA(*pte);
	}
}

/* Only the guest kernel may ask: a CPL 3 caller gets -KVM_EPERM. */
TEST(cpl3_refused)
{
	u8 code[] = {
		0xb8, KVM_HC_MAP_GPA_RANGE, 0x00, 0x00, 0x00, /* mov $nr, %eax */
		0x0f, 0x01, 0xd9,		/* vmmcall (vmcall: 0xc1) */
		0xe6, 0x80,			/* out %al, $0x80 (IOPL 3) */
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct env e;
	u8 v;

	env_create_with_code(&e, code, sizeof(code), 5);
	make_user_accessible(e.vm, TEST_GPA);

	vcpu_sregs_get(e.vcpu[0], &sregs);
	sregs.cs.dpl = 3;
	sregs.cs.selector |= 3;
	sregs.ss.dpl = 3;
	sregs.ss.selector |= 3;
	vcpu_sregs_set(e.vcpu[0], &sregs);

	vcpu_regs_get(e.vcpu[0], &regs);
	regs.rflags |= 3 << 12;		/* IOPL 3, for the OUT */
	vcpu_regs_set(e.vcpu[0], &regs);

	vcpu_run(e.vcpu[0]);
	TEST_ASSERT_KVM_EXIT_REASON(e.vcpu[0], KVM_EXIT_IO);
	vcpu_regs_get(e.vcpu[0], &regs);
	ASSERT_EQ(regs.rax, (u64)-KVM_EPERM);
	ASSERT_EQ(regs.rcx, 1);
	ASSERT_TRUE(host_read(e.mem + PAGE_SIZE, &v));	/* still shared */
	ASSERT_EQ(vm_stat(e.vm, "gmem_pv_hc_errors"), 1);
	env_destroy(&e);
}

TEST_HARNESS_MAIN
