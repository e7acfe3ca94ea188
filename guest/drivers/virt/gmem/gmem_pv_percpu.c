// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv guest: /sys/kernel/debug/gmem_pv/percpu, KVM's view of the
 * per-CPU pages it writes.
 *
 * One line per online CPU, read from that CPU's KVM MSRs (steal time, PV
 * EOI, async PF), so the addresses are those KVM was given, not those the
 * guest meant to give:
 *
 *   cpu=N st_msr=0x... st_gpa=0x... eoi_msr=0x... eoi_gpa=0x...
 *         apf_msr=0x... apf_gpa=0x... st_version=V st_steal=NS
 *
 * *_gpa is the 4 KiB page under the area (0 when the MSR is off or cannot
 * be read); st_version and st_steal are read from the steal time record
 * KVM updates, 0 when steal time is off.  A test compares the pages with
 * the host's shared extents and watches the record change: if the pages
 * were private, KVM's writes to them would fail and the record would stay
 * as the guest left it.  See Documentation/virt/gmem-pv/guest.rst.
 */

#define pr_fmt(fmt) "gmem-pv: " fmt

#include <linux/cpu.h>
#include <linux/debugfs.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/kvm_para.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <asm/msr.h>

#include "gmem_pv.h"

/* The MSR's value, or 0 if it cannot be read. */
static u64 gmem_pv_percpu_msr(unsigned int cpu, u32 msr)
{
	u64 val;

	if (rdmsrq_safe_on_cpu(cpu, msr, &val))
		return 0;
	return val;
}

static void gmem_pv_percpu_show_cpu(struct seq_file *m, unsigned int cpu)
{
	u64 st = gmem_pv_percpu_msr(cpu, MSR_KVM_STEAL_TIME);
	u64 eoi = gmem_pv_percpu_msr(cpu, MSR_KVM_PV_EOI_EN);
	u64 apf = gmem_pv_percpu_msr(cpu, MSR_KVM_ASYNC_PF_EN);
	u64 st_gpa = (st & KVM_MSR_ENABLED) ? st & KVM_STEAL_VALID_BITS : 0;
	u32 version = 0;
	u64 steal = 0;

	if (st_gpa && pfn_valid(PHYS_PFN(st_gpa))) {
		struct kvm_steal_time *rec = phys_to_virt(st_gpa);

		version = READ_ONCE(rec->version);
		steal = READ_ONCE(rec->steal);
	}
	seq_printf(m, "cpu=%u st_msr=%#llx st_gpa=%#llx eoi_msr=%#llx eoi_gpa=%#llx apf_msr=%#llx apf_gpa=%#llx st_version=%u st_steal=%llu\n",
		   cpu, st, st_gpa & PAGE_MASK, eoi,
		   (eoi & KVM_MSR_ENABLED) ? eoi & PAGE_MASK : 0, apf,
		   (apf & KVM_MSR_ENABLED) ? apf & PAGE_MASK : 0,
		   version, steal);
}

static int gmem_pv_percpu_show(struct seq_file *m, void *v)
{
	unsigned int cpu;

	/* A CPU going offline turns its MSRs off: read each one online. */
	cpus_read_lock();
	for_each_online_cpu(cpu)
		gmem_pv_percpu_show_cpu(m, cpu);
	cpus_read_unlock();
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(gmem_pv_percpu);

/* After gmem_pv_debugfs_init() (link order), which makes the directory. */
static int __init gmem_pv_percpu_init(void)
{
	struct dentry *dir = debugfs_lookup("gmem_pv", NULL);

	if (IS_ERR_OR_NULL(dir))
		return 0;
	debugfs_create_file("percpu", 0400, dir, NULL, &gmem_pv_percpu_fops);
	dput(dir);
	return 0;
}
late_initcall(gmem_pv_percpu_init);
