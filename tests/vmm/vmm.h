/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gmem-vmm: the gmem-pv reference VMM.  See
 * Documentation/virt/gmem-pv/reference-vmm.rst.
 */
#ifndef GMEM_VMM_H
#define GMEM_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#define __packed		__attribute__((packed))
#define __noreturn		__attribute__((noreturn))
#define __printf(a, b)		__attribute__((format(printf, a, b)))

/* Exit status of the VMM (below 64: what the guest wrote to EXIT_PORT). */
#define VMM_EXIT_GUEST_MAX	63
#define VMM_EXIT_RESET		64	/* guest reset/triple fault, no status */
#define VMM_EXIT_DEVICE_FAULT	65	/* a device could not reach guest memory */
#define VMM_EXIT_ERROR		66	/* VMM or KVM error */
#define VMM_EXIT_TIMEOUT	67	/* --timeout expired */

/* Guest-visible I/O ports of the VMM (besides the 8250 at 0x3f8). */
#define EXIT_PORT		0x501	/* write a byte: the VMM exits with it */
#define EVENT_PORT		0x502	/* write EVENT_*: milestones, probe */
#define EVENT_USERSPACE		1	/* init is running */
#define EVENT_PROBE		2	/* run the private-page probe now */
#define EVENT_STATS		3	/* print the VM's KVM stats now */
#define EVENT_SHARED_EXTENTS	4	/* log the shared extents now */

/* Guest physical layout. */
#define GDT_ADDR		0x500
#define ZERO_PAGE_ADDR		0x7000
#define PML4_ADDR		0x9000
#define PDPT_ADDR		0xa000
#define PD_ADDR			0xb000	/* 4 pages: identity map of 4 GiB */
#define CMDLINE_ADDR		0x20000
#define CMDLINE_MAX		0x10000
#define MPTABLE_ADDR		0x9fc00	/* last KiB of base memory */
#define BASE_MEM_END		0x9fc00
#define HIGH_MEM_START		0x100000
#define KERNEL_ADDR		0x100000
#define VIRTIO_MMIO_BASE	0xd0000000ULL
#define VIRTIO_MMIO_SIZE	0x1000
#define VIRTIO_IRQ_BASE		5
#define MAX_VIRTIO_DEVS		4
#define MAX_VCPUS		8
#define IOAPIC_ADDR		0xfec00000U
#define LAPIC_ADDR		0xfee00000U

struct vcpu {
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
};

struct virtio_dev;

/* Which 2 MiB-aligned ranges of protected RAM KVM may map at 2 MiB. */
enum huge_mode {
	HUGE_ALL,	/* 2 MiB folios; 2 MiB unless the guest hints 4 KiB */
	HUGE_HINTED,	/* 2 MiB folios; 2 MiB only where the guest hints it */
	HUGE_OFF,	/* 4 KiB folios, as upstream 7.3 */
};

struct vm {
	int kvm_fd;
	int vm_fd;
	bool protected;
	int gmem_fd;		/* -1 when unprotected */
	uint8_t *mem;		/* host view of guest RAM, GPA 0 */
	uint64_t mem_size;
	int nr_vcpus;
	struct vcpu vcpus[MAX_VCPUS];
	int run_size;
	struct virtio_dev *devs[MAX_VIRTIO_DEVS];
	int nr_devs;
	bool continue_on_fault;	/* --device-fault=reset: do not exit */
	double start;
	uint64_t kernel_gpa;	/* where the private-page probe reads */
	int dump;		/* vCPU threads: print state, then stop */
	int stopping;		/* vCPU threads: the VMM is exiting, stop */
	bool debug_stack;	/* on timeout: share RAM, print the stack */
	bool debug_shared;	/* leave RAM shared (debugging) */
	enum huge_mode huge;	/* 2 MiB guest_memfd folios: where? */
	uint64_t canary;	/* --canary: word to look for in shared pages */
	int fail_share;		/* --fail-share=N: the VMM converts, fails Nth */
	uint64_t outside_gpa;	/* --outside-gmem: 2 MiB of RAM not in it */
	uint64_t pin_gpa;	/* --pin: a page pinned, its 2 MiB shared */
	uint64_t e820_hole_gpa;	/* --e820-hole: 2 MiB of RAM e820 calls reserved */
	int pin_pipe[2];	/* holds the pin */
};

#define TEST_RANGE_SIZE		0x200000ULL	/* --outside-gmem, --pin, --e820-hole */

extern struct vm vm;

/* main.c */
double now(void);
__printf(1, 2) void vmm_log(const char *fmt, ...);
__noreturn void vmm_exit(int status, const char *why);
__printf(1, 2) __noreturn void die(const char *fmt, ...);
void irq_pulse(int irq);

/* memory.c */
void mem_init(uint64_t size, bool protected);
void mem_make_private(void);
void mem_make_shared(void);
int gm_read(uint64_t gpa, void *buf, size_t len, uint64_t *bad_gpa);
int gm_write(uint64_t gpa, const void *buf, size_t len, uint64_t *bad_gpa);
uint64_t mem_shared_pages(void);
void mem_probe(void);
void mem_stats(void);
void mem_canary_scan(uint64_t gpa, uint64_t len, const char *when);
void mem_canary_report(void);
long mem_map_gpa_range(uint64_t gpa, uint64_t npages, uint64_t attrs);
void mem_fail_share_report(void);
void mem_log_shared_extents(const char *label);
void print_stats(int obj_fd, const char *prefix, const char *const *want,
		 int nr_want);

/* boot.c */
void boot_setup(const char *kernel, const char *initrd, const char *cmdline);
void boot_setup_cpuid(struct vcpu *v);
void boot_setup_regs(struct vcpu *v);

/* serial.c */
bool serial_io(uint16_t port, bool write, uint8_t *data);

/* virtio_mmio.c and the devices */
bool virtio_mmio_access(uint64_t addr, bool write, uint8_t *data, int len);
int virtio_cmdline(char *buf, size_t len);
void blk_create(const char *path);
void blk_report(void);
void rng_create(void);

#endif /* GMEM_VMM_H */
