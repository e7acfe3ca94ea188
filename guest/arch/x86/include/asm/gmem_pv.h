/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * gmem-pv guest: the hooks x86 platform code calls, and the small API other
 * guest code may use.  See Documentation/virt/gmem-pv/guest.rst.
 */
#ifndef _ASM_X86_GMEM_PV_H
#define _ASM_X86_GMEM_PV_H

#include <linux/errno.h>
#include <linux/init.h>
#include <linux/types.h>

#ifdef CONFIG_GMEM_PV
void __init gmem_pv_init_platform(void);
void __init gmem_pv_early_share(void *ptr, unsigned long size);
bool gmem_pv_enabled(void);
#else
static inline void gmem_pv_init_platform(void) { }
static inline void gmem_pv_early_share(void *ptr, unsigned long size) { }
static inline bool gmem_pv_enabled(void) { return false; }
#endif

#endif /* _ASM_X86_GMEM_PV_H */
