// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests: which KVM_X86_*_VM types guest_memfd may own.
 *
 * gmem-pv takes over the private/shared state of software-protected VMs
 * only; every other VM type, the confidential ones in particular (SEV-SNP
 * and TDX have private memory too, with RMP/S-EPT steps gmem-pv knows
 * nothing of), must get upstream 7.3's answers whatever
 * kvm.gmem_in_place_conversion says.  A test machine without the hardware
 * cannot create those VMs, so this checks the decisions against a VM with
 * only the fields they read set as KVM sets them for each type:
 * arch.vm_type and arch.has_private_mem.
 *
 * Built into kvm.ko (CONFIG_KVM_GMEM_PV_KUNIT_TEST), it runs when the
 * module loads, before a vendor module registers /dev/kvm, so no VM exists
 * while a case sets kvm.gmem_in_place_conversion; the suite restores it.
 */

#include <kunit/test.h>
#include <linux/kvm_host.h>
#include <linux/string.h>

#include "gmem_pv_hc.h"

struct gmem_pv_vm_type {
	const char *name;
	u8 type;
	/* kvm->arch.has_private_mem, as kvm_arch_init_vm()/vendors set it */
	bool private_mem;
	/* may guest_memfd own the VM's private/shared state? */
	bool gmem_pv;
};

static const struct gmem_pv_vm_type gmem_pv_vm_types[] = {
	{ "KVM_X86_DEFAULT_VM",		KVM_X86_DEFAULT_VM,	 false, false },
	{ "KVM_X86_SW_PROTECTED_VM",	KVM_X86_SW_PROTECTED_VM, true,	true },
	{ "KVM_X86_SEV_VM",		KVM_X86_SEV_VM,		 false, false },
	{ "KVM_X86_SEV_ES_VM",		KVM_X86_SEV_ES_VM,	 false, false },
	{ "KVM_X86_SNP_VM",		KVM_X86_SNP_VM,		 true,	false },
	{ "KVM_X86_TDX_VM",		KVM_X86_TDX_VM,		 true,	false },
};

static void gmem_pv_vm_type_desc(const struct gmem_pv_vm_type *t, char *desc)
{
	strscpy(desc, t->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(gmem_pv_vm_type, gmem_pv_vm_types, gmem_pv_vm_type_desc);

static struct kvm *gmem_pv_fake_vm(struct kunit *test,
				   const struct gmem_pv_vm_type *t)
{
	struct kvm *kvm = kunit_kzalloc(test, sizeof(*kvm), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, kvm);
	kvm->arch.vm_type = t->type;
	kvm->arch.has_private_mem = t->private_mem;
	return kvm;
}

/* guest_memfd's creation flags in 7.3: kvm_gmem_get_supported_flags(). */
static u64 gmem_7_3_flags(const struct gmem_pv_vm_type *t)
{
	u64 flags = GUEST_MEMFD_FLAG_MMAP;

	if (!t->private_mem)
		flags |= GUEST_MEMFD_FLAG_INIT_SHARED;
	return flags;
}

static int gmem_cap(struct kvm *kvm, long cap)
{
	return kvm_gmem_pv_check_extension(kvm, cap);
}

/* Everything KVM answers for a VM type that gmem-pv leaves alone. */
static void expect_7_3(struct kunit *test, struct kvm *kvm,
		       const struct gmem_pv_vm_type *t)
{
	struct kvm_enable_cap enable = {
		.cap = KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
		.args[0] = KVM_GMEM_PV_HC_ENABLE,
	};

	KUNIT_EXPECT_FALSE(test, kvm_gmem_pv_vm_owns_attributes(kvm));
	KUNIT_EXPECT_EQ(test, gmem_cap(kvm, KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES), 0);
	KUNIT_EXPECT_EQ(test, gmem_cap(kvm, KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS), 0);
	KUNIT_EXPECT_EQ(test, gmem_cap(kvm, KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS), 0);
	KUNIT_EXPECT_EQ(test, kvm_gmem_pv_hc_check_extension(kvm), 0);
	/* Refused before it takes kvm->lock, which this VM does not have. */
	KUNIT_EXPECT_EQ(test, kvm_gmem_pv_hc_enable(kvm, &enable), -EINVAL);
	KUNIT_EXPECT_EQ(test, kvm_gmem_pv_supported_flags(kvm), 0);
	KUNIT_EXPECT_EQ(test, kvm_arch_supports_gmem_init_shared(kvm),
			!t->private_mem);
	KUNIT_EXPECT_EQ(test, kvm_gmem_get_supported_flags(kvm),
			gmem_7_3_flags(t));
}

static void arch_hook(struct kunit *test)
{
	const struct gmem_pv_vm_type *t = test->param_value;
	struct kvm *kvm = gmem_pv_fake_vm(test, t);

	KUNIT_EXPECT_EQ(test, kvm_arch_gmem_pv_supported(kvm), t->gmem_pv);
}

static void param_off(struct kunit *test)
{
	const struct gmem_pv_vm_type *t = test->param_value;
	struct kvm *kvm = gmem_pv_fake_vm(test, t);

	kvm_gmem_in_place_conversion = false;
	expect_7_3(test, kvm, t);
}

static void param_on(struct kunit *test)
{
	const struct gmem_pv_vm_type *t = test->param_value;
	struct kvm *kvm = gmem_pv_fake_vm(test, t);
	u64 huge = IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) ?
		   GUEST_MEMFD_FLAG_GMEM_PV_HUGE |
		   GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED : 0;

	kvm_gmem_in_place_conversion = true;
	if (!t->gmem_pv) {
		expect_7_3(test, kvm, t);
		return;
	}

	KUNIT_EXPECT_TRUE(test, kvm_gmem_pv_vm_owns_attributes(kvm));
	KUNIT_EXPECT_EQ(test, gmem_cap(kvm, KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES),
			KVM_MEMORY_ATTRIBUTE_PRIVATE);
	KUNIT_EXPECT_EQ(test, gmem_cap(kvm, KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS),
			KVM_SET_MEMORY_ATTRIBUTES2_ZERO |
			KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	KUNIT_EXPECT_EQ(test, gmem_cap(kvm, KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS), 1);
	KUNIT_EXPECT_EQ(test, kvm_gmem_pv_hc_check_extension(kvm),
			KVM_GMEM_PV_HC_ENABLE | KVM_GMEM_PV_HC_EXIT_ON_CONVERSION |
			KVM_GMEM_PV_HC_GUEST_OWNED);
	KUNIT_EXPECT_EQ(test, kvm_gmem_pv_supported_flags(kvm), huge);
	KUNIT_EXPECT_TRUE(test, kvm_arch_supports_gmem_init_shared(kvm));
	KUNIT_EXPECT_EQ(test, kvm_gmem_get_supported_flags(kvm),
			GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED |
			huge);
}

/* /dev/kvm's answer follows the parameter alone. */
static void system_wide(struct kunit *test)
{
	kvm_gmem_in_place_conversion = false;
	KUNIT_EXPECT_FALSE(test, kvm_gmem_pv_vm_owns_attributes(NULL));
	kvm_gmem_in_place_conversion = true;
	KUNIT_EXPECT_TRUE(test, kvm_gmem_pv_vm_owns_attributes(NULL));
}

static bool gmem_pv_saved_param;

static int gmem_pv_vm_types_init(struct kunit *test)
{
	gmem_pv_saved_param = kvm_gmem_in_place_conversion;
	return 0;
}

static void gmem_pv_vm_types_exit(struct kunit *test)
{
	kvm_gmem_in_place_conversion = gmem_pv_saved_param;
}

static struct kunit_case gmem_pv_vm_types_cases[] = {
	KUNIT_CASE_PARAM(arch_hook, gmem_pv_vm_type_gen_params),
	KUNIT_CASE_PARAM(param_off, gmem_pv_vm_type_gen_params),
	KUNIT_CASE_PARAM(param_on, gmem_pv_vm_type_gen_params),
	KUNIT_CASE(system_wide),
	{}
};

static struct kunit_suite gmem_pv_vm_types_suite = {
	.name = "gmem_pv_vm_types",
	.init = gmem_pv_vm_types_init,
	.exit = gmem_pv_vm_types_exit,
	.test_cases = gmem_pv_vm_types_cases,
};

kunit_test_suite(gmem_pv_vm_types_suite);
