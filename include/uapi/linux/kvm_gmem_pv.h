/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * gmem-pv: guest_memfd-owned private/shared state and in-place conversion.
 *
 * Included by <linux/kvm.h>; do not include directly.  The ABI follows the
 * upstream "guest_memfd in-place conversion" series (KVM_SET_MEMORY_ATTRIBUTES2
 * on the guest_memfd fd); see Documentation/virt/gmem-pv/memory-attributes.rst
 * for the semantics and for every place where gmem-pv differs from it.
 */
#ifndef _UAPI_LINUX_KVM_GMEM_PV_H
#define _UAPI_LINUX_KVM_GMEM_PV_H

#include <linux/types.h>
#include <linux/ioctl.h>

/*
 * KVM_CHECK_EXTENSION on /dev/kvm or a VM: the attributes that
 * KVM_SET_MEMORY_ATTRIBUTES2 accepts on a guest_memfd of that VM
 * (KVM_MEMORY_ATTRIBUTE_PRIVATE), or 0 when guest_memfd does not own the
 * private/shared state (kvm.gmem_in_place_conversion=0, or a VM type other
 * than KVM_X86_SW_PROTECTED_VM).
 */
#define KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES	252
/*
 * KVM_CHECK_EXTENSION: the KVM_SET_MEMORY_ATTRIBUTES2_* flags accepted,
 * 0 where KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES is 0.
 */
#define KVM_CAP_MEMORY_ATTRIBUTES2_FLAGS	253

/*
 * KVM_CHECK_EXTENSION: the valid KVM_ENABLE_CAP args[0] bits below, 0 where
 * KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES is 0.  KVM_ENABLE_CAP on a VM:
 * args[0] = KVM_GMEM_PV_HC_* flags, args[1..3] = 0; 0 turns the service
 * off again (unless KVM_GMEM_PV_HC_GUEST_OWNED is on: -EPERM).
 */
#define KVM_CAP_GMEM_PV_MAP_GPA_RANGE		254
/* Service the guest's KVM_HC_MAP_GPA_RANGE in the kernel. */
#define KVM_GMEM_PV_HC_ENABLE			(1ULL << 0)
/* ... and after each conversion exit with KVM_EXIT_HYPERCALL (below). */
#define KVM_GMEM_PV_HC_EXIT_ON_CONVERSION	(1ULL << 1)
/*
 * ... and only the guest shares contents: a private->shared
 * KVM_SET_MEMORY_ATTRIBUTES2 zeroes the pages (PRESERVE: -EPERM).  Once set
 * it cannot be cleared for the life of the VM.
 */
#define KVM_GMEM_PV_HC_GUEST_OWNED		(1ULL << 2)

/*
 * kvm_run.hypercall.flags bit of a KVM_EXIT_HYPERCALL that only reports a
 * conversion the kernel has done (args[0..2]: gpa, pages, attributes of
 * what it converted).  The VMM mirrors it and re-enters; ret is ignored.
 */
#define KVM_EXIT_HYPERCALL_GMEM_PV_CONVERTED	(1ULL << 63)

/**
 * struct kvm_memory_attributes2 - set the attributes of a guest_memfd range
 * @offset:	byte offset of the range in the guest_memfd, page aligned
 * @address:	alias of @offset, for layout compatibility with
 *		struct kvm_memory_attributes
 * @size:	size of the range in bytes, page aligned, not zero
 * @attributes:	the new attributes of every page in the range: 0 (shared)
 *		or KVM_MEMORY_ATTRIBUTE_PRIVATE
 * @flags:	at most one content mode, KVM_SET_MEMORY_ATTRIBUTES2_ZERO or
 *		KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE; 0 is the platform default,
 *		which preserves contents on KVM_X86_SW_PROTECTED_VM, except
 *		that a private->shared conversion of a VM with
 *		KVM_GMEM_PV_HC_GUEST_OWNED zeroes (and PRESERVE is -EPERM)
 * @error_offset: out: on EAGAIN, the file offset of the first page of the
 *		range in the first folio that has references beyond
 *		guest_memfd's own (a 2 MiB folio's references are the
 *		folio's: a pin on any of its pages); on ENOMEM, @offset
 * @reserved:	must be zero
 *
 * Issued with KVM_SET_MEMORY_ATTRIBUTES2 on a guest_memfd file descriptor.
 * The conversion is all-or-nothing: on any error no page changed state.
 */
struct kvm_memory_attributes2 {
	union {
		__u64 address;
		__u64 offset;
	};
	__u64 size;
	__u64 attributes;
	__u64 flags;
	__u64 error_offset;
	__u64 reserved[11];
};

/*
 * KVM_CHECK_EXTENSION: 1 if KVM_GET_MEMORY_ATTRIBUTES2 exists for the VM's
 * guest_memfds (guest_memfd owns the state), else 0.
 */
#define KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS	255

/**
 * struct kvm_memory_attribute_extent - a run of pages in one state
 * @offset:	byte offset of the run in the guest_memfd
 * @size:	size of the run in bytes
 * @attributes:	0 (shared) or KVM_MEMORY_ATTRIBUTE_PRIVATE
 */
struct kvm_memory_attribute_extent {
	__u64 offset;
	__u64 size;
	__u64 attributes;
};

/**
 * struct kvm_memory_attributes2_query - read a guest_memfd range's state
 * @offset:	byte offset of the range, page aligned
 * @size:	size of the range in bytes, page aligned, not zero
 * @nr_extents:	in: room in @extents (at most 4096); out: extents written
 * @extents:	user pointer to struct kvm_memory_attribute_extent[@nr_extents]
 * @flags:	must be zero
 * @reserved:	must be zero
 *
 * Issued with KVM_GET_MEMORY_ATTRIBUTES2 on a guest_memfd.  The extents are
 * a consistent snapshot, in order, clipped to the range, adjacent runs of
 * one state merged.  If they do not fit, the ones that do are returned and
 * the caller asks again from the end of the last one.
 */
struct kvm_memory_attributes2_query {
	__u64 offset;
	__u64 size;
	__u64 nr_extents;
	__u64 extents;
	__u64 flags;
	__u64 reserved[3];
};

#define KVM_GET_MEMORY_ATTRIBUTES2	_IOWR(0xAE, 0xd6, struct kvm_memory_attributes2_query)

/* Content modes for struct kvm_memory_attributes2.flags. */
#define KVM_SET_MEMORY_ATTRIBUTES2_ZERO		(1ULL << 0)
#define KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE	(1ULL << 1)

/* On a guest_memfd fd.  Same number as KVM_SET_MEMORY_ATTRIBUTES, other size/dir. */
#define KVM_SET_MEMORY_ATTRIBUTES2	_IOWR(0xAE, 0xd2, struct kvm_memory_attributes2)

/*
 * KVM_CREATE_GUEST_MEMFD flags (struct kvm_create_guest_memfd.flags), beside
 * Linux 7.3's GUEST_MEMFD_FLAG_MMAP (bit 0) and GUEST_MEMFD_FLAG_INIT_SHARED
 * (bit 1).  KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD_FLAGS) reports them
 * where they are accepted: where guest_memfd owns the private/shared state
 * (kvm.gmem_in_place_conversion=1 and KVM_X86_SW_PROTECTED_VM).  They
 * sit just below bits 26-31, which upstream's huge-page proposals use for a
 * memfd-style page-size field, and far from the low bits upstream hands out
 * in order; the capability answers an int, so nothing above bit 30 could be
 * reported.  See Documentation/virt/kvm/gmem-pv-huge-mappings.rst.
 *
 * GUEST_MEMFD_FLAG_GMEM_PV_HUGE: back every 2 MiB-aligned 2 MiB range of the
 * file with one PMD-order folio when one can be allocated (else 4 KiB
 * folios), and let KVM map such a range at 2 MiB while its pages are all in
 * one state and the guest's size hint allows it.
 *
 * GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED: with the above, map at 2 MiB only
 * where the guest hinted 2 MiB or 1 GiB (KVM_HC_MAP_GPA_RANGE); without it,
 * a range the guest never hinted maps at 2 MiB.  No effect on its own.
 */
#define GUEST_MEMFD_FLAG_GMEM_PV_HUGE		(1ULL << 24)
#define GUEST_MEMFD_FLAG_GMEM_PV_HUGE_HINTED	(1ULL << 25)

#endif /* _UAPI_LINUX_KVM_GMEM_PV_H */
