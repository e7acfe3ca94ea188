// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: a bounded stress of conversions by guest and host at once.
 *
 * Needs kvm.gmem_in_place_conversion=1.  Two vCPUs of a software-protected
 * VM each own a part of a guest_memfd slot and, round after round, make a
 * chunk of it private by KVM_HC_MAP_GPA_RANGE, touch a shared page beside
 * it, fill the chunk with a private pattern, verify it and make it shared
 * again: in the gmem-only layout, after overwriting it with a shared
 * pattern, which the conversion must keep; in the split layouts, where the
 * shared view is other memory, that view must then hold no private word.
 * Meanwhile host threads convert the rest of the slot with
 * KVM_SET_MEMORY_ATTRIBUTES2, punch holes in what they made shared, write a
 * host pattern into it (which the vCPUs read meanwhile, faulting it in)
 * and read the whole slot: a read that succeeds may see zeroes, the shared
 * patterns or the host pattern, never a word of the private pattern.
 * Conversions may fail with EAGAIN (a racing reference), which is counted;
 * any other error, a wrong word seen by the guest, or a private word seen
 * by the host fails.  Each variant stops after a number of rounds or a
 * time budget, whichever comes first.
 *
 * Every memslot layout, with 4 KiB and with 2 MiB guest_memfd backing.
 * Runs in the single-threaded TCG boot of `make check` (tests/suites-smp.conf).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define TEST_GPA	SZ_4G
#define TEST_SLOT	1
#define PRIV		KVM_GMEM_PV_HC_PRIVATE
#define H2M		KVM_MAP_GPA_RANGE_PAGE_SZ_2M

/* The slot: a 2 MiB region per vCPU, then one for the host threads. */
#define REGION		SZ_2M
#define REGION_PAGES	(REGION / PAGE_SIZE)
#define SLOT_SIZE	(3 * REGION)
#define HOST_OFF	(2 * REGION)

/* Rounds per vCPU, and the time budget per variant. */
#define MAX_ROUNDS	400
#define BUDGET_SECS	20
#define MAX_CHUNK	32	/* pages a vCPU converts in one round */
#define WORDS		(PAGE_SIZE / sizeof(u64))
/*
 * Host threads pause between steps: the two L1 CPUs share one host thread
 * under single-threaded TCG, and the vCPUs (which run L2 code) need their
 * part of it.
 */
#define HOST_PAUSE_US	200

/*
 * The words the test writes, by the top 16 bits: the guest's private
 * pattern (never to be seen by the host), the guest's shared pattern and
 * the host's pattern.  The low bits are the word's own address, so a word
 * in the wrong place is caught too.
 */
#define TAG_SHIFT	48
#define TAG_PRIV	0xa11cULL
#define TAG_GSHARED	0x5ca1ULL
#define TAG_HOST	0x4057ULL
#define ADDR_MASK	((1ULL << 40) - 1)

static inline u64 word(u64 tag, u64 addr, u64 seq)
{
	return tag << TAG_SHIFT | (seq & 0xff) << 40 | (addr & ADDR_MASK);
}

static inline u64 tag_of(u64 w)
{
	return w >> TAG_SHIFT;
}

/* Set by the host before the run (g_stop also while it runs). */
static u64 g_keeps_contents;	/* gmem-only: shared and private are one page */
static u64 g_hint;		/* the mapping-size hint for private */
static u64 g_stop;

/* Reported by the guest, per vCPU. */
static u64 g_rounds[2];
static u64 g_eagain[2];

/* The guest's own view of which pages of its region are shared. */
static u8 g_shared[2][REGION_PAGES];

/* Convert by hypercall; RAX alone says how it went.  EAGAIN: retry. */
static void guest_convert(u64 id, u64 gpa, u64 npages, u64 attrs)
{
	u64 ret;

	for (;;) {
		ret = kvm_hypercall(KVM_HC_MAP_GPA_RANGE, gpa, npages, attrs, 0);
		if (ret != (u64)-KVM_GMEM_PV_EAGAIN)
			break;
		g_eagain[id]++;
	}
	__GUEST_ASSERT(!ret, "vCPU %lu: map_gpa_range(0x%lx, %lu, 0x%lx) = %ld",
		       id, gpa, npages, attrs, (long)ret);
}

static void guest_fill(u64 gpa, u64 npages, u64 tag, u64 seq)
{
	u64 *p = (u64 *)gpa;
	u64 i;

	for (i = 0; i < npages * WORDS; i++)
		WRITE_ONCE(p[i], word(tag, gpa + i * 8, seq));
}

static void guest_verify(u64 id, u64 gpa, u64 npages, u64 tag, u64 seq)
{
	u64 *p = (u64 *)gpa;
	u64 i, want, got;

	for (i = 0; i < npages * WORDS; i++) {
		want = word(tag, gpa + i * 8, seq);
		got = READ_ONCE(p[i]);
		__GUEST_ASSERT(got == want,
			       "vCPU %lu: gpa 0x%lx: 0x%lx, expected 0x%lx",
			       id, gpa + i * 8, got, want);
	}
}

/*
 * Read a word of some pages of the host region, which the host converts
 * and punches meanwhile: each read faults the page in (and keeps KVM's
 * zaps busy); it sees zeroes or the host pattern, whatever the state.
 */
static void guest_probe_host(u64 id, u64 round)
{
	u64 first = (round * 61 + id * 17) % (REGION_PAGES - MAX_CHUNK), i, off, w;

	for (i = 0; i < MAX_CHUNK; i++) {
		off = HOST_OFF + (first + i) * PAGE_SIZE + ((round + i) % WORDS) * 8;
		w = READ_ONCE(*(u64 *)(TEST_GPA + off));
		__GUEST_ASSERT(!w || w == word(TAG_HOST, off, 0),
			       "vCPU %lu: host region offset 0x%lx: 0x%lx", id, off, w);
	}
}

/*
 * The shared view of a split slot is other memory than the private one: a
 * private word there went through a shared mapping of a private gfn.
 */
static void guest_no_private_words(u64 id, u64 gpa, u64 npages)
{
	u64 *p = (u64 *)gpa;
	u64 i, got;

	for (i = 0; i < npages * WORDS; i++) {
		got = READ_ONCE(p[i]);
		__GUEST_ASSERT(tag_of(got) != TAG_PRIV,
			       "vCPU %lu: private data in the shared view at gpa 0x%lx: 0x%lx",
			       id, gpa + i * 8, got);
	}
}

/*
 * Touch a shared page of the region outside [first, first + n): KVM maps
 * the shared memory around the private chunk while the guest writes it.
 */
static void guest_touch_shared(u64 id, u64 base, u64 first, u64 n, u64 round)
{
	u64 i, page, gpa;

	for (i = 0; i < REGION_PAGES - n; i++) {
		page = (first + n + i) % REGION_PAGES;
		if (!g_shared[id][page])
			continue;
		gpa = base + page * PAGE_SIZE;
		WRITE_ONCE(*(u64 *)gpa, word(TAG_GSHARED, gpa, round));
		__GUEST_ASSERT(READ_ONCE(*(u64 *)gpa) == word(TAG_GSHARED, gpa, round),
			       "vCPU %lu: shared gpa 0x%lx", id, gpa);
		return;
	}
}

static void guest_stress(u64 id)
{
	u64 base = TEST_GPA + id * REGION, round, first, n, gpa, i;

	for (round = 0; round < MAX_ROUNDS && !READ_ONCE(g_stop); round++) {
		/* Every 16th round the whole region, hinted: a 2 MiB mapping. */
		if (round % 16 == 15) {
			first = 0;
			n = REGION_PAGES;
		} else {
			first = (round * 37 + id * 101) % (REGION_PAGES - MAX_CHUNK);
			n = 1 + (round * 7 + id) % MAX_CHUNK;
		}
		gpa = base + first * PAGE_SIZE;

		guest_convert(id, gpa, n, PRIV | g_hint);
		for (i = first; i < first + n; i++)
			g_shared[id][i] = 0;
		guest_touch_shared(id, base, first, n, round);
		guest_fill(gpa, n, TAG_PRIV, round);
		guest_verify(id, gpa, n, TAG_PRIV, round);
		if (g_keeps_contents) {
			/* One page: what the host sees after the conversion. */
			guest_fill(gpa, n, TAG_GSHARED, round);
			guest_verify(id, gpa, n, TAG_GSHARED, round);
		}
		guest_convert(id, gpa, n, 0);
		for (i = first; i < first + n; i++)
			g_shared[id][i] = 1;
		if (g_keeps_contents)
			guest_verify(id, gpa, n, TAG_GSHARED, round);
		else
			guest_no_private_words(id, gpa, n);
		guest_fill(gpa, n, TAG_GSHARED, round + 1);
		guest_verify(id, gpa, n, TAG_GSHARED, round + 1);
		guest_probe_host(id, round);
		WRITE_ONCE(g_rounds[id], round + 1);
	}
	GUEST_DONE();
}

/* SIGBUS from a private guest_memfd page, caught per thread. */
static __thread sigjmp_buf sigbus_jmp;
static __thread bool sigbus_armed;

static void sigbus_handler(int sig)
{
	if (!sigbus_armed)
		abort();
	siglongjmp(sigbus_jmp, 1);
}

/* Read the word at @p into @val; false if it is not readable (private). */
static bool try_read(u64 *p, u64 *val)
{
	bool ok = false;

	sigbus_armed = true;
	if (!sigsetjmp(sigbus_jmp, 1)) {
		*val = READ_ONCE(*p);
		ok = true;
	}
	sigbus_armed = false;
	return ok;
}

static bool try_write(u64 *p, u64 val)
{
	bool ok = false;

	sigbus_armed = true;
	if (!sigsetjmp(sigbus_jmp, 1)) {
		WRITE_ONCE(*p, val);
		ok = true;
	}
	sigbus_armed = false;
	return ok;
}

struct stress {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu[2];
	struct gmem_pv_mem m;
	atomic_bool stop;
	/* Which host pages the converter made private (its own view). */
	bool host_private[REGION_PAGES];
	pthread_mutex_t lock;		/* host_private */
	/* Counters, each written by one thread. */
	unsigned long conversions, conv_eagain, punches, writes, write_sigbus;
	unsigned long reads, read_sigbus, passes;
};

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_DONE:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	return NULL;
}

/*
 * Convert chunks of the host region both ways; now and then punch a hole
 * in a chunk that is all shared.
 */
static void *converter_thread(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 1;
	u64 first, n, i, attrs, off, len;
	bool shared;

	while (!atomic_load(&s->stop)) {
		usleep(HOST_PAUSE_US);
		if (rand_r(&seed) % 32 == 0) {
			first = 0;
			n = REGION_PAGES;
		} else {
			n = 1 + rand_r(&seed) % 64;
			first = rand_r(&seed) % (REGION_PAGES - n + 1);
		}
		off = HOST_OFF + first * PAGE_SIZE;
		len = n * PAGE_SIZE;
		if (rand_r(&seed) % 4 == 0) {
			pthread_mutex_lock(&s->lock);
			shared = true;
			for (i = first; i < first + n; i++)
				shared &= !s->host_private[i];
			pthread_mutex_unlock(&s->lock);
			if (!shared)
				continue;
			TEST_ASSERT(!fallocate(s->m.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					       off, len),
				    "punch [0x%lx, +0x%lx): %s", off, len, strerror(errno));
			s->punches++;
			continue;
		}
		attrs = rand_r(&seed) & 1 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
		if (set_attributes2(s->m.fd, off, len, attrs, 0)) {
			TEST_ASSERT(errno == EAGAIN,
				    "SET_MEMORY_ATTRIBUTES2 [0x%lx, +0x%lx) to 0x%lx: %s",
				    off, len, attrs, strerror(errno));
			/* Some pages may have converted: assume the worst. */
			attrs = KVM_MEMORY_ATTRIBUTE_PRIVATE;
			s->conv_eagain++;
		} else {
			s->conversions++;
		}
		pthread_mutex_lock(&s->lock);
		for (i = first; i < first + n; i++)
			s->host_private[i] = attrs;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* Write the host pattern into the host region, page by page. */
static void *writer_thread(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 2;
	u64 page, off, i;
	u64 *p;

	while (!atomic_load(&s->stop)) {
		usleep(HOST_PAUSE_US);
		page = rand_r(&seed) % REGION_PAGES;
		off = HOST_OFF + page * PAGE_SIZE;
		p = (u64 *)(s->m.shared + off);
		for (i = 0; i < WORDS; i += 8) {
			if (!try_write(&p[i], word(TAG_HOST, off + i * 8, 0))) {
				s->write_sigbus++;
				break;
			}
			s->writes++;
		}
	}
	return NULL;
}

/*
 * Read the whole slot through host userspace's view of its shared pages,
 * over and over: never a private word; in the host region, only zeroes or
 * the host pattern.
 */
static void *reader_thread(void *arg)
{
	struct stress *s = arg;
	u64 *p = (u64 *)s->m.shared;
	u64 off, w, want;

	while (!atomic_load(&s->stop)) {
		for (off = 0; off < SLOT_SIZE && !atomic_load(&s->stop); off += 64) {
			if (!try_read(&p[off / 8], &w)) {
				s->read_sigbus++;
				/* The rest of a private page faults as well. */
				off |= PAGE_SIZE - 64;
				continue;
			}
			if (off % PAGE_SIZE == 0)
				usleep(HOST_PAUSE_US / 4);
			s->reads++;
			TEST_ASSERT(tag_of(w) != TAG_PRIV,
				    "host read private data at offset 0x%lx: 0x%lx", off, w);
			if (off < HOST_OFF)
				continue;
			want = word(TAG_HOST, off, 0);
			TEST_ASSERT(w == 0 || w == want,
				    "host region offset 0x%lx: 0x%lx, expected 0 or 0x%lx",
				    off, w, want);
		}
		s->passes++;
	}
	return NULL;
}

static void stress(struct __test_metadata *_metadata, enum gmem_pv_layout layout,
		   bool huge)
{
	struct sigaction sa = { .sa_handler = sigbus_handler };
	pthread_t vt[2], ht[3];
	struct timespec start, now;
	struct stress *s;
	u64 e0, e1, r0, r1;
	int i;

	s = calloc(1, sizeof(*s));
	TEST_ASSERT(s, "calloc");
	pthread_mutex_init(&s->lock, NULL);
	sigaction(SIGBUS, &sa, NULL);

	s->vm = __vm_create_with_vcpus(gmem_pv_protected_shape, 2, 0, guest_stress, s->vcpu);
	gmem_pv_mem_add(s->vm, &s->m, TEST_SLOT, TEST_GPA, SLOT_SIZE,
			huge ? GUEST_MEMFD_FLAG_GMEM_PV_HUGE : 0, layout);
	virt_map_level(s->vm, TEST_GPA, TEST_GPA, SLOT_SIZE, PG_LEVEL_2M);
	vm_enable_cap(s->vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, KVM_GMEM_PV_HC_ENABLE);
	/* Private by default: the host region starts private too. */
	memset(s->host_private, true, sizeof(s->host_private));

	g_keeps_contents = layout == GMEM_PV_LAYOUT_GMEM_ONLY;
	g_hint = huge ? H2M : 0;
	sync_global_to_guest(s->vm, g_keeps_contents);
	sync_global_to_guest(s->vm, g_hint);
	vcpu_args_set(s->vcpu[0], 1, 0);
	vcpu_args_set(s->vcpu[1], 1, 1);

	clock_gettime(CLOCK_MONOTONIC, &start);
	pthread_create(&ht[0], NULL, converter_thread, s);
	pthread_create(&ht[1], NULL, writer_thread, s);
	pthread_create(&ht[2], NULL, reader_thread, s);
	for (i = 0; i < 2; i++)
		pthread_create(&vt[i], NULL, vcpu_thread, s->vcpu[i]);

	/* The budget: tell the guest to stop, and wait for both vCPUs. */
	for (;;) {
		usleep(100 * 1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= BUDGET_SECS) {
			WRITE_ONCE(*(u64 *)addr_gva2hva(s->vm, (gva_t)&g_stop), 1);
			break;
		}
		r0 = READ_ONCE(*(u64 *)addr_gva2hva(s->vm, (gva_t)&g_rounds[0]));
		r1 = READ_ONCE(*(u64 *)addr_gva2hva(s->vm, (gva_t)&g_rounds[1]));
		if (r0 == MAX_ROUNDS && r1 == MAX_ROUNDS)
			break;
	}
	for (i = 0; i < 2; i++)
		pthread_join(vt[i], NULL);
	atomic_store(&s->stop, true);
	for (i = 0; i < 3; i++)
		pthread_join(ht[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &now);

	sync_global_from_guest(s->vm, g_rounds);
	sync_global_from_guest(s->vm, g_eagain);
	r0 = g_rounds[0];
	r1 = g_rounds[1];
	e0 = g_eagain[0];
	e1 = g_eagain[1];
	ksft_print_msg("%s, %s backing, %lds: vCPU rounds %lu + %lu (EAGAIN %lu + %lu)\n",
		       gmem_pv_layout_name(layout), huge ? "2M" : "4K",
		       (long)(now.tv_sec - start.tv_sec), r0, r1, e0, e1);
	ksft_print_msg("host: %lu conversions, %lu EAGAIN, %lu punches, %lu writes (%lu SIGBUS)\n",
		       s->conversions, s->conv_eagain, s->punches, s->writes, s->write_sigbus);
	ksft_print_msg("host: %lu reads (%lu SIGBUS) in %lu passes\n",
		       s->reads, s->read_sigbus, s->passes);
	ksft_print_msg("KVM: %lu hypercalls, %lu errors, %lu 2M mappings at the end\n",
		       vm_stat(s->vm, "gmem_pv_hc_calls"), vm_stat(s->vm, "gmem_pv_hc_errors"),
		       vm_stat(s->vm, "pages_2m"));
	/* Every hypercall error the host counted was an EAGAIN retried. */
	ASSERT_EQ(vm_stat(s->vm, "gmem_pv_hc_errors"), e0 + e1);
	ASSERT_GT(r0, 0);
	ASSERT_GT(r1, 0);
	ASSERT_GT(s->conversions, 0);
	ASSERT_GT(s->reads, 0);

	gmem_pv_mem_free(&s->m);
	kvm_vm_free(s->vm);
	free(s);
}

FIXTURE(stress_4k) {};
FIXTURE_VARIANT(stress_4k) {
	enum gmem_pv_layout layout;
};

GMEM_PV_LAYOUT_VARIANTS(stress_4k);
FIXTURE_SETUP(stress_4k) {}
FIXTURE_TEARDOWN(stress_4k) {}

TEST_F_TIMEOUT(stress_4k, convert_and_verify, 300)
{
	stress(_metadata, variant->layout, false);
}

FIXTURE(stress_2m) {};
FIXTURE_VARIANT(stress_2m) {
	enum gmem_pv_layout layout;
};

GMEM_PV_LAYOUT_VARIANTS(stress_2m);
FIXTURE_SETUP(stress_2m) {}
FIXTURE_TEARDOWN(stress_2m) {}

TEST_F_TIMEOUT(stress_2m, convert_and_verify, 300)
{
	stress(_metadata, variant->layout, true);
}

TEST_HARNESS_MAIN
