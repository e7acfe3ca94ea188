// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: guest_memfd owns the private/shared state of software-protected
 * VMs only.
 *
 * Needs kvm.gmem_in_place_conversion=1.  For every x86 VM type: if
 * KVM_CAP_VM_TYPES lists it, create one and check that the gmem-pv
 * capabilities, KVM_CAP_MEMORY_ATTRIBUTES, KVM_SET_MEMORY_ATTRIBUTES,
 * KVM_ENABLE_CAP(KVM_CAP_GMEM_PV_MAP_GPA_RANGE) and the guest_memfd ioctls
 * answer what the type should get: gmem-pv's for KVM_X86_SW_PROTECTED_VM,
 * upstream 7.3's for every other type.  A type it does not list must be
 * refused by KVM_CREATE_VM; the confidential types a machine without the
 * hardware (L1 under QEMU TCG) cannot create are covered by the KUnit suite
 * gmem_pv_vm_types.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define GMEM_PV_FLAGS	(GUEST_MEMFD_FLAG_GMEM_PV_HUGE | \
			 GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED)
#define SET2_FLAGS	(KVM_SET_MEMORY_ATTRIBUTES2_ZERO | \
			 KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE)
#define HC_FLAGS	(KVM_GMEM_PV_HC_ENABLE | \
			 KVM_GMEM_PV_HC_EXIT_ON_CONVERSION | \
			 KVM_GMEM_PV_HC_GUEST_OWNED)

FIXTURE(vm_type) {
	u64 types;
};

FIXTURE_VARIANT(vm_type) {
	unsigned long type;
	/* kvm->arch.has_private_mem for the type, as KVM sets it */
	bool private_mem;
	/* guest_memfd owns the VM's private/shared state */
	bool gmem_pv;
	/* must be creatable in L1 (gmem-pv's host needs these) */
	bool required;
};

FIXTURE_VARIANT_ADD(vm_type, default) {
	.type = KVM_X86_DEFAULT_VM,
	.required = true,
};

FIXTURE_VARIANT_ADD(vm_type, sw_protected) {
	.type = KVM_X86_SW_PROTECTED_VM,
	.private_mem = true,
	.gmem_pv = true,
	.required = true,
};

FIXTURE_VARIANT_ADD(vm_type, sev) {
	.type = KVM_X86_SEV_VM,
};

FIXTURE_VARIANT_ADD(vm_type, sev_es) {
	.type = KVM_X86_SEV_ES_VM,
};

FIXTURE_VARIANT_ADD(vm_type, snp) {
	.type = KVM_X86_SNP_VM,
	.private_mem = true,
};

FIXTURE_VARIANT_ADD(vm_type, tdx) {
	.type = KVM_X86_TDX_VM,
	.private_mem = true,
};

FIXTURE_SETUP(vm_type)
{
	/* Without it every VM type gets 7.3's answers and nothing is tested. */
	ASSERT_EQ(kvm_check_cap(KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES),
		  KVM_MEMORY_ATTRIBUTE_PRIVATE) {
		TH_LOG("needs kvm.vm_memory_attributes=0 (kvm.gmem_in_place_conversion=1)");
	}
	self->types = kvm_check_cap(KVM_CAP_VM_TYPES);
	TH_LOG("KVM_CAP_VM_TYPES = 0x%lx", self->types);
}

FIXTURE_TEARDOWN(vm_type)
{
}

/* A type KVM_CAP_VM_TYPES leaves out: KVM_CREATE_VM refuses it. */
static void check_not_creatable(struct __test_metadata *_metadata,
				unsigned long type)
{
	int kvm_fd = open_kvm_dev_path_or_exit();
	int r = ioctl(kvm_fd, KVM_CREATE_VM, type);

	ASSERT_EQ(r, -1);
	ASSERT_EQ(errno, EINVAL);
	close(kvm_fd);
	TH_LOG("type %lu not creatable here: covered by KUnit gmem_pv_vm_types",
	       type);
}

TEST_F(vm_type, gmem_pv)
{
	struct kvm_memory_attributes attr = {
		.size = PAGE_SIZE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	u64 gmem_flags, gmem_create;
	struct kvm_vm *vm;
	int fd, r;

	if (!(self->types & BIT(variant->type))) {
		ASSERT_FALSE(variant->required) {
			TH_LOG("KVM_CAP_VM_TYPES lacks type %lu", variant->type);
		}
		check_not_creatable(_metadata, variant->type);
		return;
	}

	vm = vm_create_barebones_type(variant->type);

	gmem_flags = vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_FLAGS);
	TH_LOG("KVM_CAP_GUEST_MEMFD_FLAGS = 0x%lx, KVM_CAP_MEMORY_ATTRIBUTES = 0x%x",
	       gmem_flags, vm_check_cap(vm, KVM_CAP_MEMORY_ATTRIBUTES));
	ASSERT_TRUE(gmem_flags & GUEST_MEMFD_FLAG_MMAP);

	if (variant->gmem_pv) {
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES),
			  KVM_MEMORY_ATTRIBUTE_PRIVATE);
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS),
			  SET2_FLAGS);
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE),
			  HC_FLAGS);
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS), 1);
		/* The test kernel has THP: both 2 MiB flags. */
		ASSERT_EQ(gmem_flags & GMEM_PV_FLAGS, GMEM_PV_FLAGS);
		ASSERT_TRUE(gmem_flags & GUEST_MEMFD_FLAG_INIT_SHARED);
		/* The VM's attributes do not decide private/shared. */
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_MEMORY_ATTRIBUTES), 0);
		ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
					  KVM_GMEM_PV_HC_ENABLE), 0);
	} else {
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES), 0);
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), 0);
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE), 0);
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS), 0);
		/* 7.3's flags exactly. */
		ASSERT_EQ(gmem_flags, GUEST_MEMFD_FLAG_MMAP |
			  (variant->private_mem ? 0 : GUEST_MEMFD_FLAG_INIT_SHARED));
		ASSERT_EQ(vm_check_cap(vm, KVM_CAP_MEMORY_ATTRIBUTES),
			  variant->private_mem ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
		ASSERT_EQ(__vm_enable_cap(vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
					  KVM_GMEM_PV_HC_ENABLE), -1);
		ASSERT_EQ(errno, EINVAL);
	}

	/* KVM_SET_MEMORY_ATTRIBUTES on the VM takes PRIVATE as in 7.3. */
	r = __vm_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &attr);
	if (variant->private_mem && !variant->gmem_pv) {
		ASSERT_EQ(r, 0);
	} else {
		ASSERT_EQ(r, -1);
		ASSERT_EQ(errno, EINVAL);
	}

	/* The guest_memfd ioctls exist where guest_memfd owns the state. */
	gmem_create = GUEST_MEMFD_FLAG_MMAP;
	if (gmem_flags & GUEST_MEMFD_FLAG_INIT_SHARED)
		gmem_create |= GUEST_MEMFD_FLAG_INIT_SHARED;
	fd = vm_create_guest_memfd(vm, PAGE_SIZE, gmem_create);
	r = set_attributes2(fd, 0, PAGE_SIZE, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	if (variant->gmem_pv) {
		ASSERT_EQ(r, 0) {
			TH_LOG("KVM_SET_MEMORY_ATTRIBUTES2: %s", strerror(errno));
		}
	} else {
		ASSERT_EQ(r, -1);
		ASSERT_EQ(errno, ENOTTY);
	}
	close(fd);
	kvm_vm_free(vm);
}

TEST_HARNESS_MAIN
