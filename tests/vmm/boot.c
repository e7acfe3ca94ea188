// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-vmm: x86-64 boot.  The 64-bit boot protocol of
 * Documentation/arch/x86/boot.rst: the protected-mode kernel of a bzImage
 * at 1 MiB, a zero page with the setup header, command line, initrd and
 * e820 map, identity page tables, a flat GDT, and vCPU 0 entering at
 * load address + 0x200 in long mode with RSI pointing to the zero page.
 * An MP table lists the vCPUs and the IOAPIC for SMP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <asm/bootparam.h>
#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>

#include "vmm.h"

#define E820_RAM		1
#define E820_RESERVED		2

#define BOOT_CS			0x10
#define BOOT_DS			0x18

#define CR0_PE			(1U << 0)
#define CR0_MP			(1U << 1)
#define CR0_ET			(1U << 4)
#define CR0_NE			(1U << 5)
#define CR0_WP			(1U << 16)
#define CR0_PG			(1U << 31)
#define CR4_PAE			(1U << 5)
#define EFER_LME		(1U << 8)
#define EFER_LMA		(1U << 10)

static void *load_file(const char *path, size_t *size)
{
	struct stat st;
	void *buf;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		die("%s: %m", path);
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || read(fd, buf, st.st_size) != st.st_size)
		die("reading %s: %m", path);
	close(fd);
	*size = st.st_size;
	return buf;
}

/* Boot data is written while all RAM is still shared: no fault possible. */
static void put(uint64_t gpa, const void *src, size_t len)
{
	uint64_t bad;

	if (gm_write(gpa, src, len, &bad))
		die("writing boot data at GPA %#llx: %m", (unsigned long long)bad);
}

/* ---- MP table (Intel MultiProcessor Specification 1.4) ------------------ */

struct mpf_intel {
	char signature[4];	/* "_MP_" */
	uint32_t physptr;
	uint8_t length;		/* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __packed;

struct mpc_table {
	char signature[4];	/* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint32_t reserved;
} __packed;

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __packed;

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __packed;

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __packed;

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __packed;

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };
#define IOAPIC_PINS		24

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return -sum;
}

static void setup_mptable(void)
{
	uint8_t buf[1024] = { 0 };
	struct mpf_intel *mpf = (void *)buf;
	struct mpc_table *mpc = (void *)(mpf + 1);
	uint8_t *p = (uint8_t *)(mpc + 1);
	uint8_t ioapic_id = vm.nr_vcpus;
	int i;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->spec = 4;
	memcpy(mpc->oem, "GMEMPV  ", 8);
	memcpy(mpc->productid, "GMEM-VMM    ", 12);
	mpc->lapic = LAPIC_ADDR;

	for (i = 0; i < vm.nr_vcpus; i++) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apicid = i,
			.apicver = 0x14,
			.cpuflag = 1 | (i == 0 ? 2 : 0),	/* enabled, BSP */
			.cpufeature = 0x600,
			.featureflag = 0x201,			/* FPU, APIC */
		};
		memcpy(p, &cpu, sizeof(cpu));
		p += sizeof(cpu);
	}
	{
		struct mpc_bus bus = { .type = MP_BUS, .busid = 0 };
		struct mpc_ioapic ioapic = {
			.type = MP_IOAPIC, .apicid = ioapic_id, .apicver = 0x11,
			.flags = 1, .apicaddr = IOAPIC_ADDR,
		};

		memcpy(bus.bustype, "ISA   ", 6);
		memcpy(p, &bus, sizeof(bus));
		p += sizeof(bus);
		memcpy(p, &ioapic, sizeof(ioapic));
		p += sizeof(ioapic);
	}
	/* KVM's default routing: GSI n is IOAPIC pin n, ISA IRQs 0-15 too. */
	for (i = 0; i < 16; i++) {
		struct mpc_intsrc src = {
			.type = MP_INTSRC, .irqtype = MP_INT, .srcbus = 0,
			.srcbusirq = i, .dstapic = ioapic_id, .dstirq = i,
		};
		memcpy(p, &src, sizeof(src));
		p += sizeof(src);
	}
	{
		struct mpc_intsrc lint[2] = {
			{ .type = MP_LINTSRC, .irqtype = MP_EXTINT, .dstapic = 0xff,
			  .dstirq = 0 },
			{ .type = MP_LINTSRC, .irqtype = MP_NMI, .dstapic = 0xff,
			  .dstirq = 1 },
		};
		memcpy(p, lint, sizeof(lint));
		p += sizeof(lint);
	}
	mpc->length = p - (uint8_t *)mpc;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = MPTABLE_ADDR + sizeof(*mpf);
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));

	if (p - buf > (long)sizeof(buf))
		die("MP table too large");
	put(MPTABLE_ADDR, buf, p - buf);
}

/* ---- page tables, GDT ---------------------------------------------------- */

static void setup_page_tables(void)
{
	uint64_t pml4[512] = { 0 }, pdpt[512] = { 0 }, pd[512];
	uint64_t gdt[4] = {
		0,
		0,
		0x00af9b000000ffffULL,	/* 0x10: 64-bit code */
		0x00cf93000000ffffULL,	/* 0x18: data */
	};
	int i, j;

	pml4[0] = PDPT_ADDR | 3;
	for (i = 0; i < 4; i++) {
		pdpt[i] = (PD_ADDR + i * 0x1000) | 3;
		for (j = 0; j < 512; j++)	/* 2 MiB pages, present, writable */
			pd[j] = ((uint64_t)(i * 512 + j) << 21) | 0x83;
		put(PD_ADDR + i * 0x1000, pd, sizeof(pd));
	}
	put(PML4_ADDR, pml4, sizeof(pml4));
	put(PDPT_ADDR, pdpt, sizeof(pdpt));
	put(GDT_ADDR, gdt, sizeof(gdt));
}

/* ---- kernel, initrd, zero page -------------------------------------------- */

void boot_setup(const char *kernel, const char *initrd, const char *cmdline)
{
	struct boot_params *bp;
	size_t ksize, isize = 0, setup_size, hdr_len;
	uint8_t *kimg, *iimg = NULL;
	uint64_t initrd_addr = 0, initrd_max;
	int n = 0;

	kimg = load_file(kernel, &ksize);
	bp = calloc(1, sizeof(*bp));
	if (!bp || ksize < 0x1000)
		die("%s: not a bzImage", kernel);

	/* The setup header runs from 0x1f1 to 0x202 + the byte at 0x201. */
	hdr_len = 0x202 + kimg[0x201] - 0x1f1;
	if (hdr_len > sizeof(bp->hdr))
		hdr_len = sizeof(bp->hdr);
	memcpy(&bp->hdr, kimg + 0x1f1, hdr_len);
	if (bp->hdr.header != 0x53726448)	/* "HdrS" */
		die("%s: no setup header (not a bzImage)", kernel);
	if (bp->hdr.version < 0x20c || !(bp->hdr.xloadflags & XLF_KERNEL_64))
		die("%s: no 64-bit entry point (boot protocol %#x)", kernel,
		    bp->hdr.version);

	setup_size = ((bp->hdr.setup_sects ? bp->hdr.setup_sects : 4) + 1) * 512;
	if (KERNEL_ADDR + (ksize - setup_size) + bp->hdr.init_size > vm.mem_size)
		die("guest RAM too small for the kernel (init_size %u)",
		    bp->hdr.init_size);
	put(KERNEL_ADDR, kimg + setup_size, ksize - setup_size);
	vm.kernel_gpa = bp->hdr.pref_address ? bp->hdr.pref_address : 0x1000000;

	if (initrd) {
		iimg = load_file(initrd, &isize);
		initrd_max = bp->hdr.initrd_addr_max;
		if (initrd_max >= vm.mem_size)
			initrd_max = vm.mem_size - 1;
		initrd_addr = (initrd_max + 1 - isize) & ~0xfffULL;
		if (initrd_addr < KERNEL_ADDR + bp->hdr.init_size)
			die("guest RAM too small for the initrd (%zu bytes)", isize);
		put(initrd_addr, iimg, isize);
		free(iimg);
	}

	if (strlen(cmdline) + 1 > bp->hdr.cmdline_size || strlen(cmdline) >= CMDLINE_MAX)
		die("command line too long");
	put(CMDLINE_ADDR, cmdline, strlen(cmdline) + 1);

	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.cmd_line_ptr = CMDLINE_ADDR;
	bp->hdr.ramdisk_image = initrd_addr;
	bp->hdr.ramdisk_size = isize;
	bp->hdr.vid_mode = 0xffff;

	bp->e820_table[n++] = (struct boot_e820_entry){ 0, BASE_MEM_END, E820_RAM };
	bp->e820_table[n++] = (struct boot_e820_entry){
		BASE_MEM_END, HIGH_MEM_START - BASE_MEM_END, E820_RESERVED };
	if (vm.e820_hole_gpa) {
		/*
		 * --e820-hole=GPA, a test of the guest: the 2 MiB at GPA are
		 * in guest_memfd and private like all RAM, but the e820 map
		 * calls them reserved.  At the kernel's own address the
		 * kernel adds them back as RAM after the guest driver's
		 * boot hint (e820_add_kernel_range()), so memblock hands out
		 * RAM the guest never confirmed private.
		 */
		uint64_t hole = vm.e820_hole_gpa, end = hole + TEST_RANGE_SIZE;

		if (hole & (TEST_RANGE_SIZE - 1) || hole <= HIGH_MEM_START ||
		    end >= vm.mem_size)
			die("--e820-hole=%#llx: not a 2 MiB-aligned GPA inside RAM above 1 MiB",
			    (unsigned long long)hole);
		bp->e820_table[n++] = (struct boot_e820_entry){
			HIGH_MEM_START, hole - HIGH_MEM_START, E820_RAM };
		bp->e820_table[n++] = (struct boot_e820_entry){
			hole, TEST_RANGE_SIZE, E820_RESERVED };
		bp->e820_table[n++] = (struct boot_e820_entry){
			end, vm.mem_size - end, E820_RAM };
		vmm_log("e820: [%#llx, %#llx) reserved, not RAM (--e820-hole)",
			(unsigned long long)hole, (unsigned long long)end);
	} else {
		bp->e820_table[n++] = (struct boot_e820_entry){
			HIGH_MEM_START, vm.mem_size - HIGH_MEM_START, E820_RAM };
	}
	bp->e820_entries = n;
	put(ZERO_PAGE_ADDR, bp, sizeof(*bp));

	setup_page_tables();
	setup_mptable();
	free(bp);
	free(kimg);
}

/* ---- CPUID ------------------------------------------------------------------ */

/*
 * KVM_GET_SUPPORTED_CPUID, then chosen, not passed through: XSAVE is broken
 * in the nested TCG SVM test machine (an L2 guest that uses it oopses
 * early), so XSAVE and everything that needs it goes: OSXSAVE, AVX, FMA,
 * F16C, AVX2, AVX-512, leaf 0xD.  In protected mode KVM_FEATURE_GMEM_PV;
 * never otherwise.
 */
static struct kvm_cpuid2 *supported_cpuid(void)
{
	static struct kvm_cpuid2 *cpuid;
	int nent = 128;

	if (cpuid)
		return cpuid;
	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(cpuid->entries[0]));
		cpuid->nent = nent;
		if (!ioctl(vm.kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid))
			return cpuid;
		if (errno != E2BIG)
			die("KVM_GET_SUPPORTED_CPUID: %m");
		free(cpuid);
		nent *= 2;
	}
}

void boot_setup_cpuid(struct vcpu *v)
{
	struct kvm_cpuid2 *sup = supported_cpuid(), *c;
	uint32_t i, n = 0;

	c = calloc(1, sizeof(*c) + sup->nent * sizeof(c->entries[0]));
	for (i = 0; i < sup->nent; i++) {
		struct kvm_cpuid_entry2 e = sup->entries[i];

		switch (e.function) {
		case 0x1:
			e.ecx &= ~((1U << 12) | (1U << 26) | (1U << 27) |
				   (1U << 28) | (1U << 29));	/* FMA XSAVE OSXSAVE AVX F16C */
			e.ebx = (e.ebx & 0x00ffffff) | ((uint32_t)v->id << 24);
			e.ebx = (e.ebx & 0xff00ffff) | ((uint32_t)vm.nr_vcpus << 16);
			e.edx |= 1U << 28;			/* HTT: count valid */
			break;
		case 0x7:
			if (e.index == 0) {
				e.ebx &= ~((1U << 5) | (1U << 16) | (1U << 17) |
					   (1U << 21) | (1U << 26) | (1U << 27) |
					   (1U << 28) | (1U << 30) | (1U << 31));
				e.ecx &= ~((1U << 1) | (1U << 6) | (1U << 9) |
					   (1U << 10) | (1U << 11) | (1U << 12) |
					   (1U << 14));	/* AVX-512 VBMI.., VAES, VPCLMUL */
				e.edx &= ~((1U << 2) | (1U << 3) | (1U << 8) |
					   (1U << 23));
			} else if (e.index == 1) {
				e.eax &= ~((1U << 4) | (1U << 5) | (1U << 23));
			}
			break;
		case 0xd:
			continue;				/* no XSAVE state */
		case 0xb:
		case 0x1f:
			e.edx = v->id;				/* x2APIC id */
			break;
		case 0x40000001:
			if (vm.protected)
				e.eax |= 1U << KVM_FEATURE_GMEM_PV;
			else
				e.eax &= ~(1U << KVM_FEATURE_GMEM_PV);
			break;
		}
		c->entries[n++] = e;
	}
	c->nent = n;
	for (i = 0; i < n && v->id == 0; i++)
		if (c->entries[i].function == 0x40000001)
			vmm_log("CPUID 0x40000001 eax %#x (KVM_FEATURE_GMEM_PV %s)",
				c->entries[i].eax,
				c->entries[i].eax & (1U << KVM_FEATURE_GMEM_PV) ?
				"set" : "clear");
	if (ioctl(v->fd, KVM_SET_CPUID2, c))
		die("KVM_SET_CPUID2: %m");
	free(c);
}

/* ---- registers ---------------------------------------------------------------- */

void boot_setup_regs(struct vcpu *v)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = BOOT_CS,
		.type = 11, .present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = BOOT_DS,
		.type = 3, .present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = KERNEL_ADDR + 0x200,
		.rsi = ZERO_PAGE_ADDR,
		.rflags = 2,
	};

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS: %m");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = GDT_ADDR;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = PML4_ADDR;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS: %m");
	if (ioctl(v->fd, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS: %m");
}
