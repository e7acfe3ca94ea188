/*
 * gmem-pv protected guests: the gmem-pv-guest object
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The gmem-pv ABI of the host kernel (include/uapi/linux/kvm_gmem_pv.h and
 * kvm_gmem_pv_para.h of the gmem-pv project) beyond QEMU's linux-headers,
 * which stop at Linux 6.14.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef I386_KVM_GMEM_PV_H
#define I386_KVM_GMEM_PV_H

#include "confidential-guest.h"

#define TYPE_GMEM_PV_GUEST "gmem-pv-guest"
OBJECT_DECLARE_SIMPLE_TYPE(GmemPvGuest, GMEM_PV_GUEST)

/* Linux 6.18: guest_memfd mmap() and pages created shared. */
#ifndef KVM_CAP_GUEST_MEMFD_FLAGS
#define KVM_CAP_GUEST_MEMFD_FLAGS               244
#endif
#ifndef GUEST_MEMFD_FLAG_MMAP
#define GUEST_MEMFD_FLAG_MMAP                   (1ULL << 0)
#endif
#ifndef GUEST_MEMFD_FLAG_INIT_SHARED
#define GUEST_MEMFD_FLAG_INIT_SHARED            (1ULL << 1)
#endif

/* gmem-pv: private/shared state owned by guest_memfd, converted in place. */
#define GMEM_PV_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES   252
#define GMEM_PV_CAP_MEMORY_ATTRIBUTES2_FLAGS        253
#define GMEM_PV_CAP_MAP_GPA_RANGE                   254
#define GMEM_PV_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS   255

#define GMEM_PV_HC_ENABLE                       (1ULL << 0)
#define GMEM_PV_HC_EXIT_ON_CONVERSION           (1ULL << 1)
#define GMEM_PV_HC_GUEST_OWNED                  (1ULL << 2)

#define GMEM_PV_FLAG_HUGE                       (1ULL << 24)
#define GMEM_PV_FLAG_HUGE_HINTED                (1ULL << 25)

#define GMEM_PV_ATTRS2_ZERO                     (1ULL << 0)
#define GMEM_PV_ATTRS2_PRESERVE                 (1ULL << 1)

/* CPUID 0x40000001 EAX: memory private by default, MAP_GPA_RANGE in KVM. */
#define GMEM_PV_KVM_FEATURE_BIT                 20

/* Return codes of KVM_HC_MAP_GPA_RANGE beyond KVM_EPERM/EINVAL/EFAULT. */
#define GMEM_PV_KVM_EAGAIN                      11
#define GMEM_PV_KVM_ENOMEM                      12

struct gmem_pv_memory_attributes2 {
    uint64_t offset;
    uint64_t size;
    uint64_t attributes;
    uint64_t flags;
    uint64_t error_offset;
    uint64_t reserved[11];
};

struct gmem_pv_attribute_extent {
    uint64_t offset;
    uint64_t size;
    uint64_t attributes;
};

struct gmem_pv_attributes2_query {
    uint64_t offset;
    uint64_t size;
    uint64_t nr_extents;
    uint64_t extents;
    uint64_t flags;
    uint64_t reserved[3];
};

#define GMEM_PV_SET_MEMORY_ATTRIBUTES2 \
    _IOWR(KVMIO, 0xd2, struct gmem_pv_memory_attributes2)
#define GMEM_PV_GET_MEMORY_ATTRIBUTES2 \
    _IOWR(KVMIO, 0xd6, struct gmem_pv_attributes2_query)

/* The exit status of QEMU after it touched private guest memory. */
#define GMEM_PV_EXIT_PRIVATE_ACCESS             65

#endif
