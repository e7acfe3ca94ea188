// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: KVM_PRE_FAULT_MEMORY racing with in-place conversions.
 *
 * Needs kvm.gmem_in_place_conversion=1.  One thread converts a guest_memfd
 * range between private and shared with KVM_SET_MEMORY_ATTRIBUTES2, holding
 * each state for 3 s, as the main thread prefaults the range in a loop.
 * A prefault that computed "private" before a conversion and faults after it
 * must return (done, or an error such as EFAULT), not retry for as long as
 * the new state stands: every KVM_PRE_FAULT_MEMORY must come back before a
 * timer that is far longer than a prefault of the range takes fires.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define TEST_SLOT	1
#define TEST_GPA	SZ_4G
#define TEST_SIZE	SZ_2M		/* the slot, for the THP alias */
#define RACE_SIZE	(64 * PAGE_SIZE)	/* what is converted and prefaulted */
/*
 * A prefault of RACE_SIZE takes a few ms even under TCG; the bound leaves
 * room for an L1 vCPU that the loaded build machine does not run for a
 * while, and is still half of what a prefault spinning on a standing
 * conversion takes.
 */
#define HOLD_US		3000000		/* each state stands this long */
#define NR_CYCLES	3
#define PREFAULT_MS	1500		/* the bound on one KVM_PRE_FAULT_MEMORY */

static atomic_bool timer_fired;

static void timer_handler(int sig)
{
	atomic_store(&timer_fired, true);
}

static u64 now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

static void arm_timer(long ms)
{
	struct itimerval it = {
		.it_value = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 },
	};

	setitimer(ITIMER_REAL, &it, NULL);
}

struct converter {
	int fd;
	atomic_bool done;
	u64 conversions;
	u64 eagain;
	int error;
};

static int convert(struct converter *c, u64 attributes)
{
	for (;;) {
		if (!set_attributes2(c->fd, 0, RACE_SIZE, attributes, 0))
			return 0;
		/* A prefault in flight holds a page for a moment. */
		if (errno != EAGAIN)
			return errno;
		c->eagain++;
		usleep(100);
	}
}

static void *converter_thread(void *arg)
{
	struct converter *c = arg;
	sigset_t set;
	int i;

	/* The timer is for the prefaulting thread. */
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	for (i = 0; i < NR_CYCLES && !c->error; i++) {
		c->error = convert(c, 0);
		if (c->error)
			break;
		c->conversions++;
		usleep(HOLD_US);
		c->error = convert(c, KVM_MEMORY_ATTRIBUTE_PRIVATE);
		if (c->error)
			break;
		c->conversions++;
		usleep(HOLD_US);
	}
	atomic_store(&c->done, true);
	return NULL;
}

FIXTURE(prefault) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
};

FIXTURE_VARIANT(prefault) {
	enum gmem_pv_layout layout;
};

GMEM_PV_LAYOUT_VARIANTS(prefault);

FIXTURE_SETUP(prefault)
{
	struct sigaction sa = { .sa_handler = timer_handler };

	/* No SA_RESTART: the ioctl returns EINTR when the timer fires. */
	sigaction(SIGALRM, &sa, NULL);
	self->vm = __vm_create_with_vcpus(gmem_pv_protected_shape, 1, 0, NULL,
					  &self->vcpu);
	gmem_pv_mem_add(self->vm, &self->m, TEST_SLOT, TEST_GPA, TEST_SIZE, 0,
			variant->layout);
}

FIXTURE_TEARDOWN(prefault)
{
	kvm_vm_free(self->vm);
	gmem_pv_mem_free(&self->m);
}

TEST_F_TIMEOUT(prefault, racing_conversion, 120)
{
	struct converter c = { .fd = self->m.fd };
	u64 calls = 0, done = 0, partial = 0, efault = 0, other = 0;
	u64 start, took, max_us = 0;
	struct kvm_pre_fault_memory range;
	pthread_t t;
	int r, err;

	pthread_create(&t, NULL, converter_thread, &c);
	while (!atomic_load(&c.done)) {
		range = (struct kvm_pre_fault_memory) {
			.gpa = TEST_GPA,
			.size = RACE_SIZE,
		};
		atomic_store(&timer_fired, false);
		arm_timer(PREFAULT_MS);
		start = now_us();
		r = __vcpu_ioctl(self->vcpu, KVM_PRE_FAULT_MEMORY, &range);
		err = errno;
		took = now_us() - start;
		arm_timer(0);
		calls++;
		if (took > max_us)
			max_us = took;

		/*
		 * The timer ends a spinning prefault with EINTR, or with
		 * success if it made some progress first: either way it
		 * took too long.
		 */
		ASSERT_FALSE(atomic_load(&timer_fired)) {
			TH_LOG("KVM_PRE_FAULT_MEMORY still running after %d ms, at gpa 0x%llx (%s)",
			       PREFAULT_MS, range.gpa, r ? strerror(err) : "partly done");
		}
		ASSERT_FALSE(r && err == EINTR);
		if (!r && !range.size) {
			done++;
		} else if (!r) {
			/* Stopped by an error after some progress. */
			partial++;
		} else if (err == EFAULT) {
			/* The conversion won: 7.3's memory fault exit. */
			efault++;
		} else {
			ASSERT_TRUE(err == EAGAIN || err == ENOENT) {
				TH_LOG("KVM_PRE_FAULT_MEMORY: %s", strerror(err));
			}
			other++;
		}
	}
	pthread_join(t, NULL);
	ASSERT_EQ(c.error, 0) {
		TH_LOG("KVM_SET_MEMORY_ATTRIBUTES2: %s", strerror(c.error));
	}
	ksft_print_msg("%s: conversions %lu (EAGAIN %lu)\n",
		       gmem_pv_layout_name(variant->layout), c.conversions, c.eagain);
	ksft_print_msg("prefaults %lu: done %lu, partly %lu, EFAULT %lu, EAGAIN/ENOENT %lu\n",
		       calls, done, partial, efault, other);
	ksft_print_msg("longest prefault %lu us\n", max_us);
	ASSERT_EQ(c.conversions, 2 * NR_CYCLES);
	ASSERT_GT(done, 0);
}

TEST_HARNESS_MAIN
