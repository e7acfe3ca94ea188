// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: guest_memfd owns the private/shared state of its pages.
 *
 * Needs kvm.gmem_in_place_conversion=1.  Checks the capabilities, every
 * invalid input and the state queries once; the host's view of a
 * guest_memfd it maps (initial state, stats, the state outliving the
 * memslot, the refusal to make a referenced page private) with 4 KiB and
 * 2 MiB folios; and, in every memslot layout (gmem-only, split with a 4 KiB
 * or a THP alias at userspace_addr) with 4 KiB and 2 MiB folios: in-place
 * conversion with each content mode, a guest that reads and writes the same
 * pages across conversions, holes punched, and conversions racing with the
 * guest and with host reads that must never see a private byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
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

#define NPAGES		16
#define GMEM_SIZE	(NPAGES * PAGE_SIZE)
/* The fixtures' files: one whole 2 MiB range, so _2m variants get a 2 MiB folio. */
#define FILE_SIZE	SZ_2M
#define TEST_GPA	SZ_4G
#define TEST_SLOT	1
#define HUGE		GUEST_MEMFD_FLAG_GMEM_PV_HUGE

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

static int gmem_create_size(struct kvm_vm *vm, u64 size, u64 flags)
{
	return vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_MMAP | flags);
}

static int gmem_create(struct kvm_vm *vm, u64 flags)
{
	return gmem_create_size(vm, GMEM_SIZE, flags);
}

static u8 *gmem_map_size(int fd, u64 size)
{
	return kvm_mmap(size, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
}

static u8 *gmem_map(int fd)
{
	return gmem_map_size(fd, GMEM_SIZE);
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

	/*
	 * A page converted back and forth is stored in place, its entry left
	 * beside equal neighbours: still one extent per run, however asked.
	 */
	convert(fd, 10 * PAGE_SIZE, PAGE_SIZE, priv, 0);
	convert(fd, 10 * PAGE_SIZE, PAGE_SIZE, 0, 0);
	convert(fd, 10 * PAGE_SIZE, PAGE_SIZE, priv, 0);
	convert(fd, 10 * PAGE_SIZE, PAGE_SIZE, 0, 0);
	ASSERT_EQ(query(fd, 0, GMEM_SIZE, ext, 8), 1);
	EXPECT_EXTENT(ext[0], 0, NPAGES, 0);
	ASSERT_EQ(query(fd, 0, GMEM_SIZE, ext, 1), 1);
	EXPECT_EXTENT(ext[0], 0, NPAGES, 0);
	ASSERT_EQ(query(fd, 9 * PAGE_SIZE, 3 * PAGE_SIZE, ext, 8), 1);
	EXPECT_EXTENT(ext[0], 9, 3, 0);
	convert(fd, 11 * PAGE_SIZE, PAGE_SIZE, priv, 0);
	ASSERT_EQ(query(fd, 0, GMEM_SIZE, ext, 8), 3);
	EXPECT_EXTENT(ext[0], 0, 11, 0);
	EXPECT_EXTENT(ext[1], 11, 1, priv);
	EXPECT_EXTENT(ext[2], 12, NPAGES - 12, 0);
	convert(fd, 0, GMEM_SIZE, 0, 0);

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

/*
 * What host userspace sees of a guest_memfd it maps (gmem-only; a split
 * memslot's guest_memfd cannot be mapped at all), with 4 KiB and with 2 MiB
 * folios.  The files cover one 2 MiB range; the tests work on its first
 * NPAGES pages, inside one folio for the _2m variant.
 */
FIXTURE(host_view) {
};

FIXTURE_VARIANT(host_view) {
	u64 gmem_flags;
};

FIXTURE_VARIANT_ADD(host_view, 4k) {
	.gmem_flags = 0,
};

FIXTURE_VARIANT_ADD(host_view, 2m) {
	.gmem_flags = HUGE,
};

FIXTURE_SETUP(host_view)
{
}

FIXTURE_TEARDOWN(host_view)
{
}

/* The _2m variant has what it is named for: the file is one 2 MiB folio. */
static void expect_backing(struct __test_metadata *_metadata, struct kvm_vm *vm,
			   u64 gmem_flags, u64 nr_files)
{
	EXPECT_EQ(vm_stat(vm, "gmem_pv_huge_folios"),
		  (gmem_flags & HUGE) ? nr_files : 0);
}

TEST_F(host_view, initial_state)
{
	struct kvm_vm *vm = protected_vm();
	int priv = gmem_create_size(vm, FILE_SIZE, variant->gmem_flags);
	int shared = gmem_create_size(vm, FILE_SIZE, variant->gmem_flags |
				      GUEST_MEMFD_FLAG_INIT_SHARED);
	u8 *p = gmem_map_size(priv, FILE_SIZE), *s = gmem_map_size(shared, FILE_SIZE);
	int i;

	for (i = 0; i < NPAGES; i++) {
		ASSERT_FALSE(host_can_read(p + i * PAGE_SIZE));
		ASSERT_TRUE(host_can_read(s + i * PAGE_SIZE));
	}
	check_pages(s, 0, NPAGES, 0);

	/* Converting to the state a range already has is a no-op. */
	convert(priv, 0, FILE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	convert(shared, 0, FILE_SIZE, 0, 0);
	ASSERT_FALSE(host_can_read(p));
	ASSERT_TRUE(host_can_read(s));
	/* Only the shared file was ever faulted in. */
	expect_backing(_metadata, vm, variant->gmem_flags, 1);

	kvm_munmap(p, FILE_SIZE);
	kvm_munmap(s, FILE_SIZE);
	close(priv);
	close(shared);
	kvm_vm_free(vm);
}

/* Conversions, refusals and pages each way show in the VM's stats. */
TEST_F(host_view, stats)
{
	struct kvm_vm *vm = protected_vm();
	int fd = gmem_create_size(vm, FILE_SIZE, variant->gmem_flags |
				  GUEST_MEMFD_FLAG_INIT_SHARED);
	u8 *mem = gmem_map_size(fd, FILE_SIZE);
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
	expect_backing(_metadata, vm, variant->gmem_flags, 1);

	close(pipefd[0]);
	close(pipefd[1]);
	kvm_munmap(mem, FILE_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

/*
 * The state belongs to the file: deleting the memslot and adding it back,
 * at another GPA, keeps it, and a conversion without any binding works.
 */
TEST_F(host_view, state_outlives_memslot)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	u8 *mem;
	int fd;

	vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &vcpu, NULL);
	fd = gmem_create_size(vm, FILE_SIZE, variant->gmem_flags |
			      GUEST_MEMFD_FLAG_INIT_SHARED);
	mem = gmem_map_size(fd, FILE_SIZE);
	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   FILE_SIZE, mem, fd, 0);
	convert(fd, 0, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);

	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, TEST_GPA,
				   0, NULL, fd, 0);
	ASSERT_FALSE(host_can_read(mem));
	convert(fd, PAGE_SIZE, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	vm_set_user_memory_region2(vm, TEST_SLOT, KVM_MEM_GUEST_MEMFD, 2 * TEST_GPA,
				   FILE_SIZE, mem, fd, 0);
	ASSERT_FALSE(host_can_read(mem + PAGE_SIZE));
	ASSERT_TRUE(host_can_read(mem + 2 * PAGE_SIZE));
	expect_backing(_metadata, vm, variant->gmem_flags, 1);

	/* The VM goes first; the file keeps it alive and keeps working. */
	kvm_vm_free(vm);
	ASSERT_FALSE(host_can_read(mem));
	convert(fd, 0, 2 * PAGE_SIZE, 0, 0);
	ASSERT_TRUE(host_can_read(mem));
	kvm_munmap(mem, FILE_SIZE);
	close(fd);
}

/*
 * A page the host holds a reference to (here: spliced into a pipe, as
 * vmsplice pins user pages) cannot become private.  The whole request fails,
 * error_offset names the page, and once the reference is gone it succeeds.
 * A reference to a page of a 2 MiB folio is one to the folio: every page of
 * it is refused, and error_offset is the first page of the request in it.
 */
TEST_F(host_view, referenced_page_refuses_private)
{
	struct kvm_vm *vm = protected_vm();
	int fd = gmem_create_size(vm, FILE_SIZE, variant->gmem_flags |
				  GUEST_MEMFD_FLAG_INIT_SHARED);
	struct kvm_memory_attributes2 attr = {
		.offset = 0,
		.size = FILE_SIZE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	u8 *mem = gmem_map_size(fd, FILE_SIZE), buf[PAGE_SIZE];
	struct iovec iov = { .iov_base = mem + 6 * PAGE_SIZE, .iov_len = PAGE_SIZE };
	bool huge = variant->gmem_flags & HUGE;
	int pipefd[2];

	memset(mem, 0x33, GMEM_SIZE);
	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), PAGE_SIZE);

	ASSERT_EQ(__set_attributes2(fd, &attr), -1);
	ASSERT_EQ(errno, EAGAIN);
	ASSERT_EQ(attr.error_offset, huge ? 0 : 6 * PAGE_SIZE);
	/* All or nothing: pages before and after the pinned one stay shared. */
	check_pages(mem, 0, NPAGES, 0x33);

	/* A range that does not hold the page converts, unless in its folio. */
	attr.offset = PAGE_SIZE;
	attr.size = 5 * PAGE_SIZE;
	attr.error_offset = 0;
	if (huge) {
		ASSERT_EQ(__set_attributes2(fd, &attr), -1);
		ASSERT_EQ(errno, EAGAIN);
		ASSERT_EQ(attr.error_offset, PAGE_SIZE);
		ASSERT_TRUE(host_can_read(mem + PAGE_SIZE));
	} else {
		ASSERT_EQ(__set_attributes2(fd, &attr), 0);
		ASSERT_FALSE(host_can_read(mem + PAGE_SIZE));
	}
	ASSERT_TRUE(host_can_read(mem));
	ASSERT_TRUE(host_can_read(mem + 6 * PAGE_SIZE));
	expect_backing(_metadata, vm, variant->gmem_flags, 1);

	ASSERT_EQ(read(pipefd[0], buf, PAGE_SIZE), PAGE_SIZE);
	ASSERT_EQ(buf[0], 0x33);
	convert(fd, 0, FILE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	ASSERT_FALSE(host_can_read(mem + 6 * PAGE_SIZE));

	close(pipefd[0]);
	close(pipefd[1]);
	kvm_munmap(mem, FILE_SIZE);
	close(fd);
	kvm_vm_free(vm);
}

/*
 * Conversions seen by a guest, in every memslot layout and with 4 KiB and
 * 2 MiB folios.  The test keeps a model of what each page of the first
 * NPAGES holds in the guest_memfd and, in a split memslot, in the anonymous
 * alias at userspace_addr, and of its state; every guest pass checks that
 * the guest reads what the model says it must, every host check that host
 * userspace reads exactly the model's alias (split) or shared contents
 * (gmem-only), and nothing of a private page.
 *
 * gmem-only: one copy of each page, converted in place; host userspace
 * faults only on shared pages.  Split: private pages are the guest_memfd's,
 * which host userspace cannot map; shared pages are the alias's, which the
 * conversion never touches.  So "contents kept across a conversion" holds
 * for gmem-only only; in split a page that goes shared shows the guest the
 * alias, and one that goes private again shows it the guest_memfd's page as
 * it was (or zeroed by KVM_SET_MEMORY_ATTRIBUTES2_ZERO).
 *
 * Patterns: the host writes 0xaN, the guest 0xbN into shared pages and 0xcN
 * into private ones, so no byte a check expects is the same in both states:
 * in a split memslot, a 0xcN at userspace_addr is a private byte leaked.
 */
static u8 g_expect[NPAGES], g_fill[NPAGES];
static u64 g_first, g_nr;

static u64 bytes8(u8 v)
{
	return v * 0x0101010101010101ull;
}

/* Check and fill every word of pages [g_first, g_first + g_nr), per run. */
static void guest_check_and_fill(void)
{
	u64 i, j;

	for (;;) {
		for (i = g_first; i < g_first + g_nr; i++) {
			u64 *p = (u64 *)(TEST_GPA + i * PAGE_SIZE);
			u64 want = bytes8(g_expect[i]), fill = bytes8(g_fill[i]);

			for (j = 0; j < PAGE_SIZE / 8; j++) {
				u64 v = READ_ONCE(p[j]);

				__GUEST_ASSERT(v == want,
					       "page %lu word %lu: 0x%lx, expected 0x%lx",
					       i, j, v, want);
				WRITE_ONCE(p[j], fill);
			}
		}
		GUEST_SYNC(0);
	}
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

FIXTURE(layout) {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
	bool gmem_only;
	/* The model. */
	u8 gmem[NPAGES];
	u8 alias[NPAGES];
	bool priv[NPAGES];
};

FIXTURE_VARIANT(layout) {
	enum gmem_pv_layout layout;
	u64 gmem_flags;
};

GMEM_PV_LAYOUT_BACKING_VARIANTS(layout);

FIXTURE_SETUP(layout)
{
	self->vm = NULL;
}

/* The helpers below name FIXTURE_DATA(layout), FIXTURE_VARIANT(layout) by their structs. */
FIXTURE_TEARDOWN(layout)
{
	if (!self->vm)
		return;
	gmem_pv_mem_free(&self->m);
	kvm_vm_free(self->vm);
}

/*
 * A protected VM running @code, with the test memslot at TEST_GPA laid out
 * as the variant says, its file all shared or all private; a _2m variant's
 * file is one 2 MiB folio, allocated up front.
 */
static void layout_start(struct __test_metadata *_metadata,
			 struct _test_data_layout *self,
			 const struct _fixture_variant_layout *variant,
			 void *code, bool init_shared)
{
	u64 flags = variant->gmem_flags | (init_shared ? GUEST_MEMFD_FLAG_INIT_SHARED : 0);
	int i;

	self->vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape,
						 &self->vcpu, code);
	gmem_pv_mem_add(self->vm, &self->m, TEST_SLOT, TEST_GPA, FILE_SIZE,
			flags, variant->layout);
	self->gmem_only = variant->layout == GMEM_PV_LAYOUT_GMEM_ONLY;
	if (variant->gmem_flags & HUGE) {
		ASSERT_EQ(fallocate(self->m.fd, FALLOC_FL_KEEP_SIZE, 0, FILE_SIZE), 0);
		ASSERT_EQ(vm_stat(self->vm, "gmem_pv_huge_folios"), 1);
	}
	virt_map(self->vm, TEST_GPA, TEST_GPA, NPAGES);
	for (i = 0; i < NPAGES; i++) {
		self->gmem[i] = 0;
		self->alias[i] = 0;
		self->priv[i] = !init_shared;
	}
}

/* What the guest reads at page @i. */
static u8 model_guest_view(struct _test_data_layout *self, int i)
{
	return self->gmem_only || self->priv[i] ? self->gmem[i] : self->alias[i];
}

/*
 * The guest checks pages [first, first + nr) and writes 0xb0 + @n to the
 * shared ones, 0xc0 + @n to the private ones.
 */
static void guest_pass(struct _test_data_layout *self, int first, int nr, u8 n)
{
	int i;

	for (i = first; i < first + nr; i++) {
		g_expect[i] = model_guest_view(self, i);
		g_fill[i] = (self->priv[i] ? 0xc0 : 0xb0) + n;
	}
	g_first = first;
	g_nr = nr;
	sync_global_to_guest(self->vm, g_expect);
	sync_global_to_guest(self->vm, g_fill);
	sync_global_to_guest(self->vm, g_first);
	sync_global_to_guest(self->vm, g_nr);
	run_to_sync(self->vcpu, 0);

	for (i = first; i < first + nr; i++) {
		if (self->gmem_only || self->priv[i])
			self->gmem[i] = g_fill[i];
		else
			self->alias[i] = g_fill[i];
	}
}

/* Host userspace writes @val to pages [first, first + nr) at userspace_addr. */
static void host_fill(struct _test_data_layout *self, int first, int nr, u8 val)
{
	int i;

	for (i = first; i < first + nr; i++) {
		TEST_ASSERT(!self->gmem_only || !self->priv[i],
			    "test bug: host write to private page %d", i);
		memset(self->m.shared + i * PAGE_SIZE, val, PAGE_SIZE);
		if (self->gmem_only)
			self->gmem[i] = val;
		else
			self->alias[i] = val;
	}
}

/*
 * What host userspace reads at userspace_addr: a private page of a gmem-only
 * memslot not at all (SIGBUS, for reads and writes); anything else exactly
 * what the model says, which is never what the guest wrote while private.
 */
static void host_check(struct _test_data_layout *self)
{
	int i, j;

	for (i = 0; i < NPAGES; i++) {
		u8 *p = self->m.shared + i * PAGE_SIZE;
		u8 want = self->gmem_only ? self->gmem[i] : self->alias[i];

		if (self->gmem_only && self->priv[i]) {
			TEST_ASSERT(!host_can_read(p), "private page %d readable", i);
			TEST_EXPECT_SIGBUS(p[1] = 1);
			continue;
		}
		TEST_ASSERT(host_can_read(p), "%s page %d not readable",
			    self->priv[i] ? "private" : "shared", i);
		for (j = 0; j < PAGE_SIZE; j++)
			TEST_ASSERT(p[j] == want,
				    "host: %s page %d byte %d: 0x%x, expected 0x%x",
				    self->priv[i] ? "private" : "shared", i, j,
				    p[j], want);
	}
}

static void model_convert(struct _test_data_layout *self, int first, int nr,
			  bool to_private, u64 flags)
{
	bool noop = true;
	int i;

	convert(self->m.fd, first * PAGE_SIZE, nr * PAGE_SIZE,
		to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, flags);
	for (i = first; i < first + nr; i++)
		noop &= self->priv[i] == to_private;
	/* A range already in the state asked for is left alone, contents too. */
	for (i = first; i < first + nr && !noop; i++) {
		self->priv[i] = to_private;
		if (flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)
			self->gmem[i] = 0;
	}
}

/*
 * Pages 4..11 go private and back with the content modes given, the rest
 * stay shared; a round with the default modes first leaves the guest's
 * private data in the guest_memfd, so that ZERO has something to clear in
 * a split memslot too.
 */
static void test_round_trip(struct __test_metadata *_metadata,
			    struct _test_data_layout *self,
			    const struct _fixture_variant_layout *variant,
			    u64 to_private_flags, u64 to_shared_flags)
{
	layout_start(_metadata, self, variant, guest_check_and_fill, true);

	host_fill(self, 0, NPAGES, 0xa1);
	guest_pass(self, 0, NPAGES, 1);
	host_check(self);

	model_convert(self, 4, 8, true, 0);
	host_check(self);
	guest_pass(self, 0, NPAGES, 2);
	host_check(self);
	model_convert(self, 4, 8, false, 0);
	host_check(self);
	guest_pass(self, 0, NPAGES, 3);
	model_convert(self, 4, 8, true, to_private_flags);
	host_check(self);
	guest_pass(self, 0, NPAGES, 4);
	host_check(self);
	model_convert(self, 4, 8, false, to_shared_flags);
	host_check(self);
	guest_pass(self, 0, NPAGES, 5);
	host_check(self);

	/* And what the guest_memfd kept of the private data. */
	model_convert(self, 4, 8, true, 0);
	guest_pass(self, 0, NPAGES, 6);
	host_check(self);
}

TEST_F(layout, convert_preserve)
{
	test_round_trip(_metadata, self, variant, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
			KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
}

TEST_F(layout, convert_default_preserves)
{
	test_round_trip(_metadata, self, variant, 0, 0);
}

TEST_F(layout, convert_zero_to_shared)
{
	test_round_trip(_metadata, self, variant, 0, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
}

TEST_F(layout, convert_zero_to_private)
{
	test_round_trip(_metadata, self, variant, KVM_SET_MEMORY_ATTRIBUTES2_ZERO, 0);
}

/*
 * The guest reads what it expects and writes the next value over the whole
 * range in each state the host puts it in: shared, private, shared again
 * (PRESERVE), private again.
 */
TEST_F(layout, guest_sees_contents_across_conversions)
{
	layout_start(_metadata, self, variant, guest_check_and_fill, true);

	host_fill(self, 0, NPAGES, 0xaa);
	guest_pass(self, 0, NPAGES, 1);
	host_check(self);

	model_convert(self, 0, NPAGES, true, 0);
	host_check(self);
	guest_pass(self, 0, NPAGES, 2);
	host_check(self);

	model_convert(self, 0, NPAGES, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	host_check(self);
	guest_pass(self, 0, NPAGES, 3);
	host_check(self);

	model_convert(self, 0, NPAGES, true, 0);
	guest_pass(self, 0, NPAGES, 4);
	host_check(self);
}

/*
 * Private memory the host never shared: the guest writes it, the host cannot
 * read it (nor see it in a split memslot's alias); sharing the pages shows
 * the host what the guest wrote in gmem-only, the alias in split.
 */
TEST_F(layout, private_by_default_guest_writes)
{
	layout_start(_metadata, self, variant, guest_check_and_fill, false);

	guest_pass(self, 0, NPAGES, 1);
	host_check(self);

	model_convert(self, 0, NPAGES, false, 0);
	host_check(self);
	guest_pass(self, 0, NPAGES, 2);
	host_check(self);
}

/*
 * Punching a hole frees the guest_memfd's pages (they read as zeroes after)
 * but keeps their state; a split memslot's alias is not the guest_memfd's
 * and keeps its contents.
 */
TEST_F(layout, punch_hole_keeps_state)
{
	int i;

	layout_start(_metadata, self, variant, guest_check_and_fill, true);

	host_fill(self, 0, NPAGES, 0xa1);
	model_convert(self, 2, 1, true, 0);
	guest_pass(self, 0, NPAGES, 1);
	host_check(self);

	ASSERT_EQ(fallocate(self->m.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			    0, 4 * PAGE_SIZE), 0);
	for (i = 0; i < 4; i++)
		self->gmem[i] = 0;
	host_check(self);
	ASSERT_TRUE(self->priv[2]);
	guest_pass(self, 0, NPAGES, 2);
	host_check(self);

	model_convert(self, 2, 1, false, 0);
	host_check(self);
	guest_pass(self, 0, NPAGES, 3);
	host_check(self);
}

/*
 * Conversions racing with a guest that keeps touching the range and with a
 * host thread that keeps reading it at userspace_addr.  The even pages are
 * the guest's: it makes one private by hypercall, writes PRIV_MARK to it
 * (a byte it writes nowhere else, ever), reads it back, scrubs it with
 * SHARED_MARK while still private, makes it shared and writes SHARED_MARK
 * again.  The odd pages are the host's: it converts them one at a time
 * with KVM_SET_MEMORY_ATTRIBUTES2 while the guest counts its rounds in
 * byte 8 of each.  Every conversion completes or fails with EAGAIN (a host
 * fault held the page), the guest never stops, and the host reader, in
 * either layout, never sees PRIV_MARK.
 */
#define PRIV_MARK	0xc5
#define SHARED_MARK	0xb5
#define MARK_BYTES	64
#define COUNTER		8
#define RACE_CONVERSIONS 400
#define RACE_ROUNDS	10
#define RACE_SECS	60

static void guest_map_page(u64 gpa, u64 attrs)
{
	u64 r;

	do {
		r = kvm_hypercall(KVM_HC_MAP_GPA_RANGE, gpa, 1,
				  attrs | KVM_MAP_GPA_RANGE_PAGE_SZ_4K, 0);
	} while (r == -KVM_GMEM_PV_EAGAIN);
	__GUEST_ASSERT(!r, "KVM_HC_MAP_GPA_RANGE 0x%lx attrs 0x%lx: %ld",
		       gpa, attrs, (long)r);
}

static void guest_expect(u8 *p, u8 mark)
{
	int j;

	for (j = 0; j < MARK_BYTES; j++)
		__GUEST_ASSERT(READ_ONCE(p[j]) == mark, "gva %p: 0x%x, expected 0x%x",
			       &p[j], p[j], mark);
}

static void guest_mark(u8 *p, u8 mark)
{
	int j;

	for (j = 0; j < MARK_BYTES; j++)
		WRITE_ONCE(p[j], mark);
	guest_expect(p, mark);
}

static void guest_count(u8 *p)
{
	WRITE_ONCE(p[MARK_BYTES + COUNTER], READ_ONCE(p[MARK_BYTES + COUNTER]) + 1);
}

/*
 * Between marking its page private and scrubbing it, the guest touches the
 * host's page next to it, shared or private: a fault there must not map
 * anything over the private page (which would show the guest other data,
 * and take its private writes where the host reads them).
 */
static void guest_race(void)
{
	u64 i;

	for (;;) {
		for (i = 0; i < NPAGES; i += 2) {
			u8 *p = (u8 *)(TEST_GPA + i * PAGE_SIZE);

			guest_map_page((u64)p, KVM_GMEM_PV_HC_PRIVATE);
			guest_mark(p, PRIV_MARK);
			guest_count(p + PAGE_SIZE);
			guest_expect(p, PRIV_MARK);
			guest_mark(p, PRIV_MARK);
			guest_mark(p, SHARED_MARK);
			guest_map_page((u64)p, 0);
			guest_mark(p, SHARED_MARK);
		}
		GUEST_SYNC(0);
	}
}

struct race {
	struct kvm_vcpu *vcpu;
	u8 *mem;
	bool gmem_only;
	atomic_bool stop;
	unsigned long guest_rounds, host_reads, host_sigbus;
};

static void *race_vcpu(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		run_to_sync(r->vcpu, 0);
		WRITE_ONCE(r->guest_rounds, r->guest_rounds + 1);
	}
	return NULL;
}

static void *race_host_reader(void *arg)
{
	struct race *r = arg;
	int i, j;

	while (!atomic_load(&r->stop)) {
		for (i = 0; i < NPAGES; i += 2) {
			u8 *p = r->mem + i * PAGE_SIZE;

			for (j = 0; j < MARK_BYTES; j += 8) {
				u8 val;

				if (!host_read(p + j, &val)) {
					TEST_ASSERT(r->gmem_only,
						    "split: SIGBUS on the alias, page %d", i);
					r->host_sigbus++;
					break;
				}
				TEST_ASSERT(val != PRIV_MARK,
					    "host read the guest's private byte: page %d byte %d",
					    i, j);
				r->host_reads++;
			}
		}
	}
	return NULL;
}

TEST_F(layout, conversions_race_guest_and_host)
{
	pthread_t vcpu_thread, reader;
	unsigned long done = 0, eagain = 0;
	struct race r = {};
	time_t start;
	int i, j;

	layout_start(_metadata, self, variant, guest_race, true);
	vm_enable_cap(self->vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, KVM_GMEM_PV_HC_ENABLE);
	/* As a VMM's guest RAM is: written, so THP backs a THP alias. */
	memset(self->m.shared, 0, GMEM_SIZE);
	r.vcpu = self->vcpu;
	r.mem = self->m.shared;
	r.gmem_only = self->gmem_only;

	pthread_create(&vcpu_thread, NULL, race_vcpu, &r);
	pthread_create(&reader, NULL, race_host_reader, &r);

	/*
	 * At least RACE_CONVERSIONS conversions and RACE_ROUNDS guest rounds
	 * (each round converts every guest page twice), whichever is later.
	 */
	start = time(NULL);
	for (i = 0; i < RACE_CONVERSIONS || READ_ONCE(r.guest_rounds) < RACE_ROUNDS; i++) {
		u64 page = 2 * ((i * 5) % (NPAGES / 2)) + 1;
		u64 attrs = (i & 1) ? 0 : KVM_MEMORY_ATTRIBUTE_PRIVATE;

		if (!set_attributes2(self->m.fd, page * PAGE_SIZE, PAGE_SIZE, attrs, 0)) {
			done++;
			TEST_ASSERT(time(NULL) - start < RACE_SECS,
				    "%lu guest rounds in %d s", READ_ONCE(r.guest_rounds),
				    RACE_SECS);
			continue;
		}
		TEST_ASSERT(errno == EAGAIN, "conversion %d: %s", i, strerror(errno));
		eagain++;
		TEST_ASSERT(time(NULL) - start < RACE_SECS,
			    "%lu guest rounds in %d s", READ_ONCE(r.guest_rounds), RACE_SECS);
	}

	atomic_store(&r.stop, true);
	pthread_join(reader, NULL);
	pthread_join(vcpu_thread, NULL);
	TH_LOG("%lu conversions, %lu EAGAIN, %lu guest rounds, %lu host reads, %lu SIGBUS",
	       done, eagain, r.guest_rounds, r.host_reads, r.host_sigbus);
	ASSERT_GT(done, 0);
	ASSERT_GT(r.guest_rounds, 0);
	ASSERT_EQ(vm_stat(self->vm, "gmem_pv_hc_errors"), 0);

	/*
	 * Everything shared again.  The guest's pages hold its last shared
	 * mark; in gmem-only, where conversions keep contents in place, each
	 * host page counted every round in either state.
	 */
	while (set_attributes2(self->m.fd, 0, GMEM_SIZE, 0, 0))
		ASSERT_EQ(errno, EAGAIN);
	for (i = 0; i < NPAGES; i += 2) {
		for (j = 0; j < MARK_BYTES; j++)
			ASSERT_EQ(r.mem[i * PAGE_SIZE + j], SHARED_MARK);
	}
	for (i = 1; i < NPAGES && self->gmem_only; i += 2)
		ASSERT_EQ(r.mem[i * PAGE_SIZE + MARK_BYTES + COUNTER],
			  (u8)r.guest_rounds);
}

TEST_HARNESS_MAIN
