/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv selftests: helpers shared by the tests and benchmarks.
 */
#ifndef SELFTEST_KVM_GMEM_PV_UTIL_H
#define SELFTEST_KVM_GMEM_PV_UTIL_H

#include <setjmp.h>
#include <signal.h>

#include "kvm_util.h"

static const struct vm_shape gmem_pv_protected_shape = {
	.mode = VM_MODE_DEFAULT,
	.type = KVM_X86_SW_PROTECTED_VM,
};

static sigjmp_buf gmem_pv_sigbus_jmp;

static inline void gmem_pv_sigbus_handler(int sig)
{
	siglongjmp(gmem_pv_sigbus_jmp, 1);
}

/*
 * Read @p from host userspace, if it may: a private guest_memfd page raises
 * SIGBUS.  One thread at a time.
 */
static inline bool host_read(u8 *p, u8 *val)
{
	struct sigaction sa = { .sa_handler = gmem_pv_sigbus_handler }, old;
	bool ok = false;

	sigaction(SIGBUS, &sa, &old);
	if (!sigsetjmp(gmem_pv_sigbus_jmp, 1)) {
		*val = READ_ONCE(*p);
		ok = true;
	}
	sigaction(SIGBUS, &old, NULL);
	return ok;
}

static inline bool host_can_read(u8 *p)
{
	u8 val;

	return host_read(p, &val);
}

static inline u64 vm_stat(struct kvm_vm *vm, const char *name)
{
	u64 v;

	kvm_get_stat(&vm->stats, name, &v, 1);
	return v;
}

/* KVM_SET_MEMORY_ATTRIBUTES2 on a guest_memfd; 0 or -1 with errno. */
static inline int set_attributes2(int fd, u64 offset, u64 size, u64 attributes,
				  u64 flags)
{
	struct kvm_memory_attributes2 attr = {
		.offset = offset,
		.size = size,
		.attributes = attributes,
		.flags = flags,
	};

	return ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, &attr);
}

#endif /* SELFTEST_KVM_GMEM_PV_UTIL_H */
