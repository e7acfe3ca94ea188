// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_caps: print what the L1 host's KVM offers to a protected-guest VMM.
 *
 * `make run` shows this, with kvm.gmem_in_place_conversion off and on, until
 * the reference VMM exists.  Exits non-zero if /dev/kvm cannot be opened or
 * a software-protected VM cannot be created.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

struct cap {
	const char *name;
	int nr;
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define CAP(x)		{ #x, x }
static const struct cap caps[] = {
	CAP(KVM_CAP_USER_MEMORY2),
	CAP(KVM_CAP_MEMORY_ATTRIBUTES),
	CAP(KVM_CAP_GUEST_MEMFD),
	CAP(KVM_CAP_GUEST_MEMFD_FLAGS),
	CAP(KVM_CAP_VM_TYPES),
	CAP(KVM_CAP_PRE_FAULT_MEMORY),
	CAP(KVM_CAP_EXIT_HYPERCALL),
	CAP(KVM_CAP_NR_MEMSLOTS),
	CAP(KVM_CAP_MAX_VCPUS),
	CAP(KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES),
	CAP(KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS),
	CAP(KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS),
	CAP(KVM_CAP_GMEM_PV_MAP_GPA_RANGE),
};

static void print_caps(const char *what, int fd)
{
	unsigned int i;

	printf("# %s:\n", what);
	for (i = 0; i < ARRAY_SIZE(caps); i++)
		printf("#   %-38s %d\n", caps[i].name,
		       ioctl(fd, KVM_CHECK_EXTENSION, caps[i].nr));
}

int main(void)
{
	int kvm, vm;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		printf("not ok 1 open /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	printf("# KVM API version %d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
	print_caps("system", kvm);

	vm = ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	if (vm < 0) {
		printf("not ok 1 create a KVM_X86_SW_PROTECTED_VM: %s\n", strerror(errno));
		return 1;
	}
	print_caps("KVM_X86_SW_PROTECTED_VM", vm);
	printf("ok 1 software-protected VM created\n");
	close(vm);
	close(kvm);
	return 0;
}
