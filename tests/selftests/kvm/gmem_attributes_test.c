// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: guest_memfd owns the private/shared state of its pages.
 *
 * Needs kvm.gmem_in_place_conversion=1.  Checks the capabilities, the initial
 * state, in-place conversion with KVM_SET_MEMORY_ATTRIBUTES2 (contents kept
 * or zeroed, host access only to shared pages), every invalid input, the
 * refusal to make a referenced page private, a guest that reads and writes
 * the same pages across conversions, and conversions racing with the guest
 * and with host faults.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define NPAGES		16
#define GMEM_SIZE	(NPAGES * PAGE_SIZE)
#define TEST_GPA	SZ_4G
#define TEST_SLOT	1

static int __set_attributes2(int fd, struct kvm_memory_attributes2 *attr)
{
	return ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, attr);
}

static void convert(int fd, u64 offset, u64 size, u64 attributes, u64 flags)
{
	int r = set_attributes2(fd, offset, size, attributes, flags);

	TEST_ASSERT(!r, "KVM_SET_MEMORY_ATTRIBUTES2 [0x%lx, +0x%lx) to 0x%lx flags 0x%lx: %s",
		    offset, size, attributes, flags, strerror(errno));
}

static void check_pages(u8 *mem, int first, int nr, u8 val)
{
	int i, j;

	for (i = first; i < first + nr; i++) {
		TEST_ASSERT(host_can_read(mem + i * PAGE_SIZE),
			    "page %d should be shared", i);
		for (j = 0; j < PAGE_SIZE; j++)
			TEST_ASSERT(mem[i * PAGE_SIZE + j] == val,
				    "page %d byte %d: 0x%x, expected 0x%x",
				    i, j, mem[i * PAGE_SIZE + j], val);
	}
}

static struct kvm_vm *protected_vm(void)
{
	return vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
}

static int gmem_create(struct kvm_vm *vm, u64 flags)
{
	return vm_create_guest_memfd(vm, GMEM_SIZE, GUEST_MEMFD_FLAG_MMAP | flags);
}

static u8 *gmem_map(int fd)
{
	return kvm_mmap(GMEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
}

TEST(capabilities)
{
	struct kvm_vm *vm;

	ASSERT_EQ(kvm_check_cap(KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES),
		  KVM_MEMORY_ATTRIBUTE_PRIVATE);
	ASSERT_EQ(kvm_check_cap(KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS),
		  KVM_SET_MEMORY_ATTRIBUTES2_ZERO | KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	/* The VM-wide attributes no longer decide private/shared. */
	ASSERT_EQ(kvm_check_cap(KVM_CAP_MEMORY_ATTRIBUTES), 0);

	vm = protected_vm();
	ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES),
		  KVM_MEMORY_ATTRIBUTE_PRIVATE);
	ASSERT_EQ(vm_check_cap(vm, KVM_CAP_MEMORY_ATTRIBUTES), 0);
	ASSERT_TRUE(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_FLAGS) &
		    GUEST_MEMFD_FLAG_INIT_SHARED);
	kvm_vm_free(vm);

	/* A VM without private memory: guest_memfd owns nothing. */
	vm = vm_create_barebones();
	ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES), 0);
	ASSERT_EQ(vm_check_cap(vm, KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), 0);
	kvm_vm_free(vm);
}

TEST(vm_attributes_refuse_private)
{
	struct kvm_memory_attributes attr = {
		.address = 0,
		.size = PAGE_SIZE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	struct kvm_vm *vm = protected_vm();

	ASSERT_EQ(__vm_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &attr), -1);
	ASSERT_EQ(errno, EINVAL);
	kvm_vm_free(vm);
}

TEST(no_state_without_private_memory)
{
	struct kvm_vm *vm = vm_create_barebones();
	int fd = vm_create_guest_memfd(vm, GMEM_SIZE, GUEST_MEMFD_FLAG_MMAP |
						      GUEST_MEMFD_FLAG_INIT_SHARED);

	ASSERT_EQ(set_attributes2(fd, 0, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), -1);
	ASSERT_EQ(errno, ENOTTY);
	close(fd);
	kvm_vm_free(vm);
}

TEST(initial_state)
{
	struct kvm_vm *vm = protected_vm();
	int priv = gmem_create(vm, 0);
	int shared = gmem_create(vm, GUEST_MEMFD_FLAG_INIT_SHARED);
	u8 *p = gmem_map(priv), *s = gmem_map(shared);
	int i;

	for (i = 0; i < NPAGES; i++) {
		ASSERT_FALSE(host_can_read(p + i * PAGE_SIZE));
		ASSERT_TRUE(host_can_read(s + i * PAGE_SIZE));
	}
	check_pages(s, 0, NPAGES, 0);

	/* Converting to the state a range already has is a no-op. */
	convert(priv, 0, GMEM_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	convert(shared, 0, GMEM_SIZE, 0, 0);
	ASSERT_FALSE(host_can_read(p));
	ASSERT_TRUE(host_can_read(s));

	kvm_munmap(p, GMEM_SIZE);
	kvm_munmap(s, GMEM_SIZE);
	close(priv);
	close(shared);
	kvm_vm_free(vm);
}

static void test_round_trip(u64 to_private_flags, u64 to_shared_flags,
			    u8 expect)
{
	struct kvm_vm *vm = protected_vm();
	int fd = gmem_create(vm, GUEST_MEMFD_FLAG_INIT_SHARED);
	u8 *mem = gmem_map(fd);
	int i;

	memset(mem, 0xaa, GMEM_SIZE);

	/* Pages 4..11 private; the rest stay shared and untouched. */
	convert(fd, 4 * PAGE_SIZE, 8 * PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE,
		to_private_flags);
	for (i = 0; i < NPAGES; i++)
		TEST_ASSERT_EQ(host_can_read(mem + i * PAGE_SIZE), i < 4 || i >= 12);
	/* A write faults too. */
	TEST_EXPECT_SIGBUS(mem[5 * PAGE_SIZE] = 1);

	convert(fd, 4 * PAGE_SIZE, 8 * PAGE_SIZE, 0, to_shared_flags);
	check_pages(mem, 0, 4, 0xaa);
	check_pages(mem, 4, 8, expect);
	check_pages(mem, 12, 4, 0xaa);

	kvm_munmap(mem, GMEM_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

TEST(convert_preserve)
{
	test_round_trip(KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
			KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, 0xaa);
}

TEST(convert_default_preserves)
{
	test_round_trip(0, 0, 0xaa);
}

TEST(convert_zero_to_shared)
{
	test_round_trip(0, KVM_SET_MEMORY_ATTRIBUTES2_ZERO, 0);
}

TEST(convert_zero_to_private)
{
	test_round_trip(KVM_SET_MEMORY_ATTRIBUTES2_ZERO, 0, 0);
}

TEST(invalid_input)
{
	struct kvm_vm *vm = protected_vm();
	int fd = gmem_create(vm, GUEST_MEMFD_FLAG_INIT_SHARED);
	const u64 priv = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	struct kvm_memory_attributes2 attr;
	u8 *mem = gmem_map(fd);
	unsigned int i;
	struct {
		const char *what;
		u64 offset, size, attributes, flags;
	} bad[] = {
		{ "zero size", 0, 0, priv, 0 },
		{ "unaligned offset", 1, PAGE_SIZE, priv, 0 },
		{ "unaligned size", 0, PAGE_SIZE + 1, priv, 0 },
		{ "past the end", PAGE_SIZE, GMEM_SIZE, priv, 0 },
		{ "offset at the end", GMEM_SIZE, PAGE_SIZE, priv, 0 },
		{ "wrapping", -(u64)PAGE_SIZE, 2 * PAGE_SIZE, priv, 0 },
		{ "unknown attribute", 0, PAGE_SIZE, priv | 1, 0 },
		{ "RWX attribute", 0, PAGE_SIZE, 1ULL << 0, 0 },
		{ "unknown flag", 0, PAGE_SIZE, priv, 1ULL << 2 },
		{ "two content modes", 0, PAGE_SIZE, priv,
		  KVM_SET_MEMORY_ATTRIBUTES2_ZERO | KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE },
	};

	memset(mem, 0x5a, GMEM_SIZE);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		EXPECT_EQ(set_attributes2(fd, bad[i].offset, bad[i].size,
					  bad[i].attributes, bad[i].flags), -1)
			TH_LOG("%s accepted", bad[i].what);
		EXPECT_EQ(errno, EINVAL) TH_LOG("%s: %s", bad[i].what, strerror(errno));
	}

	for (i = 0; i < 11; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.size = PAGE_SIZE;
		attr.attributes = priv;
		attr.reserved[i] = 1;
		EXPECT_EQ(__set_attributes2(fd, &attr), -1);
		EXPECT_EQ(errno, EINVAL);
	}

	EXPECT_EQ(ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, (void *)8), -1);
	EXPECT_EQ(errno, EFAULT);

	/* No read()/write() on a guest_memfd, shared pages or not. */
	EXPECT_EQ(read(fd, &attr, 8), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(write(fd, &attr, 8), -1);
	EXPECT_EQ(errno, EINVAL);

	/* The old, VM-scoped ioctl number is not a guest_memfd ioctl. */
	EXPECT_EQ(ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES, &attr), -1);
	EXPECT_EQ(errno, ENOTTY);

	/* Nothing changed. */
	check_pages(mem, 0, NPAGES, 0x5a);

	kvm_munmap(mem, GMEM_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

static u64 query(int fd, u64 offset, u64 size, struct kvm_memory_attribute_extent *ext,
		 u64 nr)
{
	struct kvm_memory_attributes2_query q = {
		.offset = offset,
		.size = size,
		.nr_extents = nr,
		.extents = (u64)(unsigned long)ext,
	};

	TEST_ASSERT(!ioctl(fd, KVM_GET_MEMORY_ATTRIBUTES2, &q),
		    "KVM_GET_MEMORY_ATTRIBUTES2: %s", strerror(errno));
	return q.nr_extents;
}

static void expect_extent(struct __test_metadata *_metadata,
			  const struct kvm_memory_attribute_extent *e,
			  u64 first, u64 npages, u64 attrs)
{
	EXPECT_EQ(e->offset, first * PAGE_SIZE);
	EXPECT_EQ(e->size, npages * PAGE_SIZE);
	EXPECT_EQ(e->attributes, attrs);
}

#define EXPECT_EXTENT(e, first, npages, attrs) \
	expect_extent(_metadata, &(e), first, npages, attrs)

/* The state of a range comes back as merged, clipped extents. */
TEST(query_extents)
{
	const u64 priv = KVM_MEMORY_ATTRIBUTE_PRIVATE;
	struct kvm_memory_attribute_extent ext[8];
	struct kvm_memory_attributes2_query q;
	struct kvm_vm *vm = protected_vm();
	int fd = gmem_create(vm, GUEST_MEMFD_FLAG_INIT_SHARED);

	ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS), 1);

	/* One extent for the whole file. */
	ASSERT_EQ(query(fd, 0, GMEM_SIZE, ext, 8), 1);
	EXPECT_EXTENT(ext[0], 0, NPAGES, 0);

	convert(fd, 2 * PAGE_SIZE, 3 * PAGE_SIZE, priv, 0);
	convert(fd, 5 * PAGE_SIZE, 2 * PAGE_SIZE, priv, 0);	/* merges with 2..4 */
	convert(fd, 10 * PAGE_SIZE, PAGE_SIZE, priv, 0);
	ASSERT_EQ(query(fd, 0, GMEM_SIZE, ext, 8), 5);
	EXPECT_EXTENT(ext[0], 0, 2, 0);
	EXPECT_EXTENT(ext[1], 2, 5, priv);
	EXPECT_EXTENT(ext[2], 7, 3, 0);
	EXPECT_EXTENT(ext[3], 10, 1, priv);
	EXPECT_EXTENT(ext[4], 11, NPAGES - 11, 0);

	/* Clipped to the range asked for. */
	ASSERT_EQ(query(fd, 3 * PAGE_SIZE, 5 * PAGE_SIZE, ext, 8), 2);
	EXPECT_EXTENT(ext[0], 3, 4, priv);
	EXPECT_EXTENT(ext[1], 7, 1, 0);

	/* Short of room: the first ones, and the caller goes on from there. */
	ASSERT_EQ(query(fd, 0, GMEM_SIZE, ext, 2), 2);
	EXPECT_EXTENT(ext[1], 2, 5, priv);
	ASSERT_EQ(query(fd, 7 * PAGE_SIZE, GMEM_SIZE - 7 * PAGE_SIZE, ext, 2), 2);
	EXPECT_EXTENT(ext[0], 7, 3, 0);

	/* Converting back merges everything again. */
	convert(fd, 0, GMEM_SIZE, 0, 0);
	ASSERT_EQ(query(fd, 0, GMEM_SIZE, ext, 8), 1);

	memset(&q, 0, sizeof(q));
	q.extents = (u64)(unsigned long)ext;
	q.size = GMEM_SIZE;
	EXPECT_EQ(ioctl(fd, KVM_GET_MEMORY_ATTRIBUTES2, &q), -1);	/* no room */
	EXPECT_EQ(errno, EINVAL);
	q.nr_extents = 1;
	q.flags = 1;
	EXPECT_EQ(ioctl(fd, KVM_GET_MEMORY_ATTRIBUTES2, &q), -1);
	EXPECT_EQ(errno, EINVAL);
	q.flags = 0;
	q.reserved[2] = 1;
	EXPECT_EQ(ioctl(fd, KVM_GET_MEMORY_ATTRIBUTES2, &q), -1);
	EXPECT_EQ(errno, EINVAL);
	q.reserved[2] = 0;
	q.size = GMEM_SIZE + PAGE_SIZE;
	EXPECT_EQ(ioctl(fd, KVM_GET_MEMORY_ATTRIBUTES2, &q), -1);
	EXPECT_EQ(errno, EINVAL);
	q.size = GMEM_SIZE;
	q.offset = 1;
	EXPECT_EQ(ioctl(fd, KVM_GET_MEMORY_ATTRIBUTES2, &q), -1);
	EXPECT_EQ(errno, EINVAL);
	q.offset = 0;
	q.extents = 8;
	EXPECT_EQ(ioctl(fd, KVM_GET_MEMORY_ATTRIBUTES2, &q), -1);
	EXPECT_EQ(errno, EFAULT);

	close(fd);
	kvm_vm_free(vm);
}

/* Conversions, refusals and pages each way show in the VM's stats. */
TEST(stats)
{
	struct kvm_vm *vm = protected_vm();
	int fd = gmem_create(vm, GUEST_MEMFD_FLAG_INIT_SHARED);
	u8 *mem = gmem_map(fd);
	struct iovec iov = { .iov_base = mem + 5 * PAGE_SIZE, .iov_len = PAGE_SIZE };
	int pipefd[2];

	convert(fd, 0, 4 * PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	convert(fd, 0, PAGE_SIZE, 0, 0);
	/* A page pinned in a pipe: going private is refused. */
	mem[5 * PAGE_SIZE] = 1;
	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), PAGE_SIZE);
	ASSERT_EQ(set_attributes2(fd, 4 * PAGE_SIZE, 2 * PAGE_SIZE,
				  KVM_MEMORY_ATTRIBUTE_PRIVATE, 0), -1);
	ASSERT_EQ(errno, EAGAIN);

	ASSERT_EQ(vm_stat(vm, "gmem_pv_pages_to_private"), 4);
	ASSERT_EQ(vm_stat(vm, "gmem_pv_pages_to_shared"), 1);
	ASSERT_EQ(vm_stat(vm, "gmem_pv_conversions"), 3);
	ASSERT_EQ(vm_stat(vm, "gmem_pv_conversions_refused"), 1);

	close(pipefd[0]);
	close(pipefd[1]);
	kvm_munmap(mem, GMEM_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

/*
 * The state belongs to the file: deleting the memslot and adding it back,
 * at another GPA, keeps it, and a conversion without any binding works.
 */
TEST(state_outlives_memslot)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	u8 *mem;
	int fd;

	vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &vcpu, NULL);
	fd = gmem_create(vm, GUEST_MEMFD_FLAG_INIT_SHARED);
	mem = gmem_map(fd);
	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   GMEM_SIZE, NULL, fd, 0);
	convert(fd, 0, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);

	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   0, NULL, fd, 0);
	ASSERT_FALSE(host_can_read(mem));
	convert(fd, PAGE_SIZE, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, 2 * TEST_GPA,
				   GMEM_SIZE, NULL, fd, 0);
	ASSERT_FALSE(host_can_read(mem + PAGE_SIZE));
	ASSERT_TRUE(host_can_read(mem + 2 * PAGE_SIZE));

	/* The VM goes first; the file keeps it alive and keeps working. */
	kvm_vm_free(vm);
	ASSERT_FALSE(host_can_read(mem));
	convert(fd, 0, 2 * PAGE_SIZE, 0, 0);
	ASSERT_TRUE(host_can_read(mem));
	kvm_munmap(mem, GMEM_SIZE);
	close(fd);
}

/* Punching a hole frees pages but keeps their state. */
TEST(punch_hole_keeps_state)
{
	struct kvm_vm *vm = protected_vm();
	int fd = gmem_create(vm, GUEST_MEMFD_FLAG_INIT_SHARED);
	u8 *mem = gmem_map(fd);

	memset(mem, 0x11, GMEM_SIZE);
	convert(fd, 2 * PAGE_SIZE, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	ASSERT_EQ(fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0,
			    4 * PAGE_SIZE), 0);
	check_pages(mem, 0, 2, 0);
	ASSERT_FALSE(host_can_read(mem + 2 * PAGE_SIZE));
	check_pages(mem, 3, 1, 0);
	check_pages(mem, 4, NPAGES - 4, 0x11);

	convert(fd, 2 * PAGE_SIZE, PAGE_SIZE, 0, 0);
	check_pages(mem, 2, 1, 0);

	kvm_munmap(mem, GMEM_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

/*
 * A page the host holds a reference to (here: spliced into a pipe, as
 * vmsplice pins user pages) cannot become private.  The whole request fails,
 * error_offset names the page, and once the reference is gone it succeeds.
 */
TEST(referenced_page_refuses_private)
{
	struct kvm_vm *vm = protected_vm();
	int fd = gmem_create(vm, GUEST_MEMFD_FLAG_INIT_SHARED);
	struct kvm_memory_attributes2 attr = {
		.offset = 0,
		.size = GMEM_SIZE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	u8 *mem = gmem_map(fd), buf[PAGE_SIZE];
	struct iovec iov = { .iov_base = mem + 6 * PAGE_SIZE, .iov_len = PAGE_SIZE };
	int pipefd[2];

	memset(mem, 0x33, GMEM_SIZE);
	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), PAGE_SIZE);

	ASSERT_EQ(__set_attributes2(fd, &attr), -1);
	ASSERT_EQ(errno, EAGAIN);
	ASSERT_EQ(attr.error_offset, 6 * PAGE_SIZE);
	/* All or nothing: pages before and after the pinned one stay shared. */
	check_pages(mem, 0, NPAGES, 0x33);

	/* A range that does not hold the page converts. */
	convert(fd, 0, 6 * PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	ASSERT_FALSE(host_can_read(mem));

	ASSERT_EQ(read(pipefd[0], buf, PAGE_SIZE), PAGE_SIZE);
	ASSERT_EQ(buf[0], 0x33);
	convert(fd, 0, GMEM_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	ASSERT_FALSE(host_can_read(mem + 6 * PAGE_SIZE));

	close(pipefd[0]);
	close(pipefd[1]);
	kvm_munmap(mem, GMEM_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

/*
 * The guest reads what it expects and writes the next value, page by page,
 * in the state the host has put the range in; the host checks from its side
 * whenever the range is shared.
 */
static void guest_check_and_fill(u8 *mem, u64 size, u8 expect, u8 fill)
{
	u64 i;

	for (i = 0; i < size; i += 64) {
		__GUEST_ASSERT(READ_ONCE(mem[i]) == expect,
			       "offset 0x%lx: 0x%x, expected 0x%x", i, mem[i], expect);
		WRITE_ONCE(mem[i], fill);
	}
}

static void guest_code(u8 *mem, u64 size)
{
	guest_check_and_fill(mem, size, 0xaa, 0xbb);	/* shared */
	GUEST_SYNC(1);
	guest_check_and_fill(mem, size, 0xbb, 0xcc);	/* private */
	GUEST_SYNC(2);
	guest_check_and_fill(mem, size, 0xcc, 0xdd);	/* shared again */
	GUEST_DONE();
}

static void run_to_sync(struct kvm_vcpu *vcpu, u64 stage)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		TEST_ASSERT_EQ(uc.args[1], stage);
		break;
	case UCALL_DONE:
		TEST_ASSERT_EQ(stage, 0);
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
}

static struct kvm_vm *vm_with_gmem(struct kvm_vcpu **vcpu, void *code,
				   int *fd, u64 gmem_flags)
{
	struct kvm_vm *vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, vcpu, code);

	*fd = gmem_create(vm, gmem_flags);
	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   GMEM_SIZE, NULL, *fd, 0);
	virt_map(vm, TEST_GPA, TEST_GPA, NPAGES);
	vcpu_args_set(*vcpu, 2, TEST_GPA, GMEM_SIZE);
	return vm;
}

TEST(guest_sees_contents_across_conversions)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	u8 *mem;
	int fd, i;

	vm = vm_with_gmem(&vcpu, guest_code, &fd, GUEST_MEMFD_FLAG_INIT_SHARED);
	mem = gmem_map(fd);
	memset(mem, 0xaa, GMEM_SIZE);

	run_to_sync(vcpu, 1);
	for (i = 0; i < GMEM_SIZE; i += 64)
		TEST_ASSERT_EQ(mem[i], 0xbb);

	convert(fd, 0, GMEM_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	ASSERT_FALSE(host_can_read(mem));
	run_to_sync(vcpu, 2);
	ASSERT_FALSE(host_can_read(mem + GMEM_SIZE - PAGE_SIZE));

	convert(fd, 0, GMEM_SIZE, 0, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	for (i = 0; i < GMEM_SIZE; i += 64)
		TEST_ASSERT_EQ(mem[i], 0xcc);
	run_to_sync(vcpu, 0);
	for (i = 0; i < GMEM_SIZE; i += 64)
		TEST_ASSERT_EQ(mem[i], 0xdd);

	kvm_munmap(mem, GMEM_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

/*
 * Private memory the host never shared: the guest writes it, the host cannot
 * read it, and closing the memslot and the file tears it down cleanly.
 */
static void guest_write_private(u8 *mem, u64 size)
{
	u64 i;

	for (i = 0; i < size; i += PAGE_SIZE)
		WRITE_ONCE(mem[i], 0x77);
	GUEST_DONE();
}

TEST(private_by_default_guest_writes)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	u8 *mem;
	int fd, i;

	vm = vm_with_gmem(&vcpu, guest_write_private, &fd, 0);
	mem = gmem_map(fd);
	run_to_sync(vcpu, 0);
	for (i = 0; i < NPAGES; i++)
		ASSERT_FALSE(host_can_read(mem + i * PAGE_SIZE));

	/* Sharing the guest's pages shows what it wrote. */
	convert(fd, 0, GMEM_SIZE, 0, 0);
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(mem[i * PAGE_SIZE], 0x77);

	kvm_munmap(mem, GMEM_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

/*
 * Conversions racing with a guest that keeps touching the range and with a
 * host thread that keeps faulting it: every conversion either completes or
 * fails with EAGAIN (a host fault held the page), the guest never stops, and
 * no private page is ever read by the host (a read that succeeds must see
 * the shared pattern).
 */
static void guest_touch_forever(u8 *mem, u64 size)
{
	u64 i;

	for (;;) {
		for (i = 0; i < size; i += PAGE_SIZE)
			WRITE_ONCE(mem[i + 8], READ_ONCE(mem[i + 8]) + 1);
		GUEST_SYNC(0);
	}
}

struct race {
	struct kvm_vcpu *vcpu;
	u8 *mem;
	atomic_bool stop;
	unsigned long guest_rounds, host_reads, host_sigbus;
};

static void *race_vcpu(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		run_to_sync(r->vcpu, 0);
		r->guest_rounds++;
	}
	return NULL;
}

static void *race_host_reader(void *arg)
{
	struct race *r = arg;
	int i;

	while (!atomic_load(&r->stop)) {
		for (i = 0; i < NPAGES; i++) {
			u8 val;

			if (host_read(r->mem + i * PAGE_SIZE, &val)) {
				/* Byte 0 is never written by the guest. */
				TEST_ASSERT_EQ(val, 0xee);
				r->host_reads++;
			} else {
				r->host_sigbus++;
			}
		}
	}
	return NULL;
}

TEST(conversions_race_guest_and_host)
{
	pthread_t vcpu_thread, reader;
	struct race r = {};
	unsigned long done = 0, eagain = 0;
	struct kvm_vm *vm;
	int fd, i;

	vm = vm_with_gmem(&r.vcpu, guest_touch_forever, &fd, GUEST_MEMFD_FLAG_INIT_SHARED);
	r.mem = gmem_map(fd);
	memset(r.mem, 0xee, GMEM_SIZE);

	pthread_create(&vcpu_thread, NULL, race_vcpu, &r);
	pthread_create(&reader, NULL, race_host_reader, &r);

	for (i = 0; i < 400; i++) {
		u64 first = (i * 5) % NPAGES, nr = 1 + i % (NPAGES - first);
		u64 attrs = (i & 1) ? 0 : KVM_MEMORY_ATTRIBUTE_PRIVATE;

		if (!set_attributes2(fd, first * PAGE_SIZE, nr * PAGE_SIZE, attrs, 0)) {
			done++;
			continue;
		}
		TEST_ASSERT(errno == EAGAIN, "conversion %d: %s", i, strerror(errno));
		eagain++;
	}

	atomic_store(&r.stop, true);
	pthread_join(reader, NULL);
	pthread_join(vcpu_thread, NULL);
	TH_LOG("%lu conversions, %lu EAGAIN, %lu guest rounds, %lu host reads, %lu SIGBUS",
	       done, eagain, r.guest_rounds, r.host_reads, r.host_sigbus);
	ASSERT_GT(done, 0);
	ASSERT_GT(r.guest_rounds, 0);

	/* Everything shared again: byte 0 of each page is still the pattern. */
	while (set_attributes2(fd, 0, GMEM_SIZE, 0, 0))
		ASSERT_EQ(errno, EAGAIN);
	for (i = 0; i < NPAGES; i++)
		ASSERT_EQ(r.mem[i * PAGE_SIZE], 0xee);

	kvm_munmap(r.mem, GMEM_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

TEST_HARNESS_MAIN
