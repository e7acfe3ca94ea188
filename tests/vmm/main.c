// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-vmm: the gmem-pv reference VMM.  Boots a bzImage with an initramfs
 * on N vCPUs with the in-kernel irqchip and PIT, a serial console and
 * virtio-mmio block and entropy devices, as a protected guest
 * (KVM_X86_SW_PROTECTED_VM, RAM in a guest_memfd, private before the first
 * KVM_RUN) or, with --unprotected, as an ordinary VM.
 *
 * See Documentation/virt/gmem-pv/reference-vmm.rst.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>

#include "vmm.h"

struct vm vm;

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* VMM messages go to stderr, unbuffered; the guest's console to stdout. */
void vmm_log(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "gmem-vmm: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(2, buf, n) < 0)
		return;
}

void die(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	vmm_log("error: %s", buf);
	_exit(VMM_EXIT_ERROR);
}

/*
 * Each vCPU's non-zero KVM stats (exits, faults, injections, halts...): a
 * guest that ran slow or hung shows where its time went.
 */
static void vcpu_stats(void)
{
	char name[32];
	int i;

	for (i = 0; i < vm.nr_vcpus; i++) {
		if (vm.vcpus[i].fd <= 0)
			continue;
		snprintf(name, sizeof(name), "VCPU-STATS %d:", i);
		print_stats(vm.vcpus[i].fd, name, NULL, 0);
	}
}

/*
 * Stop running the guest on every vCPU before the exit reports: the guest's
 * result is final once it is reported, and a guest left running on its
 * other vCPUs while one is held here sees that one stalled (RCU stall
 * reports on a 2-vCPU guest, printed after its exit status).
 */
static void vmm_stop_vcpus(void)
{
	int i;

	__atomic_store_n(&vm.stopping, 1, __ATOMIC_RELEASE);
	for (i = 0; i < vm.nr_vcpus; i++) {
		if (!vm.vcpus[i].run || !vm.vcpus[i].thread)
			continue;
		vm.vcpus[i].run->immediate_exit = 1;
		if (!pthread_equal(vm.vcpus[i].thread, pthread_self()))
			pthread_kill(vm.vcpus[i].thread, SIGUSR1);
	}
}

/* End the VMM once, from any thread; the others die with the process. */
void vmm_exit(int status, const char *why)
{
	static int exiting;

	if (__atomic_exchange_n(&exiting, 1, __ATOMIC_SEQ_CST))
		for (;;)
			pause();
	vmm_stop_vcpus();
	vmm_log("%s: exit status %d after %.2f s", why, status, now() - vm.start);
	blk_report();
	if (vm.vm_fd > 0) {
		mem_canary_report();
		mem_fail_share_report();
		mem_stats();
		mem_log_shared_extents("exit");
	}
	vcpu_stats();
	_exit(status);
}

/* An edge on an ISA/IOAPIC line of the in-kernel irqchip. */
void irq_pulse(int irq)
{
	struct kvm_irq_level l = { .irq = irq, .level = 1 };

	if (ioctl(vm.vm_fd, KVM_IRQ_LINE, &l))
		vmm_log("KVM_IRQ_LINE %d: %m", irq);
	l.level = 0;
	ioctl(vm.vm_fd, KVM_IRQ_LINE, &l);
}

static void port_io(uint16_t port, bool write, uint8_t *data, int size)
{
	if (serial_io(port, write, data))
		return;
	if (!write) {
		memset(data, 0xff, size);
		return;
	}
	switch (port) {
	case EXIT_PORT:
		vmm_exit(data[0], "guest status");
	case EVENT_PORT:
		if (data[0] == EVENT_USERSPACE)
			vmm_log("BOOT userspace_secs=%.2f", now() - vm.start);
		else if (data[0] == EVENT_PROBE)
			mem_probe();
		else if (data[0] == EVENT_STATS)
			mem_stats();
		else if (data[0] == EVENT_SHARED_EXTENTS)
			mem_log_shared_extents(NULL);
		break;
	case 0x64:			/* i8042: pulse reset line */
		if (data[0] == 0xfe)
			vmm_exit(VMM_EXIT_RESET, "guest reset (keyboard controller)");
		break;
	case 0xcf9:			/* reset control register */
		if (data[0] & 4)
			vmm_exit(VMM_EXIT_RESET, "guest reset (port 0xcf9)");
		break;
	}
}

static void dump_stack(struct vcpu *v, uint64_t rsp);

/* Where a vCPU is, for a run that timed out. */
static void vcpu_dump(struct vcpu *v)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	char name[32];

	if (ioctl(v->fd, KVM_GET_REGS, &regs) || ioctl(v->fd, KVM_GET_SREGS, &sregs))
		return;
	vmm_log("vCPU %d: rip %#llx rsp %#llx rflags %#llx cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx",
		v->id, regs.rip, regs.rsp, regs.rflags,
		sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer);
	snprintf(name, sizeof(name), "vCPU %d stats:", v->id);
	print_stats(v->fd, name, NULL, 0);
	if (vm.debug_stack)
		dump_stack(v, regs.rsp);
}

/*
 * Debugging only (--debug-stack): make all RAM shared again and print the
 * kernel text addresses on the vCPU's stack.  Defeats the protection.
 */
static void dump_stack(struct vcpu *v, uint64_t rsp)
{
	struct kvm_translation tr = { .linear_address = rsp };
	uint64_t words[128], bad;
	int i;

	mem_make_shared();
	if (ioctl(v->fd, KVM_TRANSLATE, &tr) || !tr.valid)
		return;
	if (gm_read(tr.physical_address, words,
		    sizeof(words), &bad))
		return;
	for (i = 0; i < 128; i++)
		if ((words[i] >> 32) == 0xffffffff && (words[i] >> 24 & 0xff) >= 0x81)
			vmm_log("vCPU %d: stack[%d] %#llx", v->id, i,
				(unsigned long long)words[i]);
}

static void sigusr1(int sig)
{
}

/*
 * KVM_HC_MAP_GPA_RANGE.  With the in-kernel service and --canary, an
 * informational exit after a conversion: a range just shared is scanned
 * for the canary with the vCPU stopped, before the guest can touch it.
 * With --fail-share, the VMM services the call itself (upstream's path).
 */
static void hypercall_exit(struct kvm_run *run)
{
	uint64_t gpa = run->hypercall.args[0], npages = run->hypercall.args[1];
	uint64_t attrs = run->hypercall.args[2];

	if (run->hypercall.nr != KVM_HC_MAP_GPA_RANGE) {
		vmm_log("unexpected hypercall %llu", (unsigned long long)run->hypercall.nr);
		vmm_exit(VMM_EXIT_ERROR, "unhandled hypercall");
	}
	if (run->hypercall.flags & KVM_EXIT_HYPERCALL_GMEM_PV_CONVERTED) {
		if (!(attrs & KVM_MAP_GPA_RANGE_ENCRYPTED))
			mem_canary_scan(gpa, npages * 4096, "share");
		return;
	}
	run->hypercall.ret = mem_map_gpa_range(gpa, npages, attrs);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct kvm_run *run = v->run;
	uint32_t i;

	for (;;) {
		if (ioctl(v->fd, KVM_RUN, NULL) < 0) {
			if (__atomic_load_n(&vm.dump, __ATOMIC_ACQUIRE)) {
				vcpu_dump(v);
				for (;;)
					pause();
			}
			if (__atomic_load_n(&vm.stopping, __ATOMIC_ACQUIRE))
				for (;;)
					pause();
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vmm_log("vCPU %d: KVM_RUN: %m", v->id);
			vmm_exit(VMM_EXIT_ERROR, "KVM_RUN failed");
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			for (i = 0; i < run->io.count; i++)
				port_io(run->io.port,
					run->io.direction == KVM_EXIT_IO_OUT,
					(uint8_t *)run + run->io.data_offset +
					i * run->io.size, run->io.size);
			break;
		case KVM_EXIT_MMIO:
			if (!virtio_mmio_access(run->mmio.phys_addr,
						run->mmio.is_write,
						run->mmio.data, run->mmio.len) &&
			    !run->mmio.is_write)
				memset(run->mmio.data, 0xff, run->mmio.len);
			break;
		case KVM_EXIT_SHUTDOWN:
			vmm_exit(VMM_EXIT_RESET, "guest shutdown (triple fault)");
		case KVM_EXIT_SYSTEM_EVENT:
			vmm_exit(VMM_EXIT_RESET, "guest system event");
		case KVM_EXIT_HLT:
			break;
		case KVM_EXIT_HYPERCALL:
			hypercall_exit(run);
			break;
		case KVM_EXIT_MEMORY_FAULT:
			vmm_log("vCPU %d: memory fault at GPA %#llx size %#llx flags %#llx",
				v->id, (unsigned long long)run->memory_fault.gpa,
				(unsigned long long)run->memory_fault.size,
				(unsigned long long)run->memory_fault.flags);
			vmm_exit(VMM_EXIT_ERROR, "KVM_EXIT_MEMORY_FAULT");
		case KVM_EXIT_FAIL_ENTRY:
			vmm_log("vCPU %d: entry failed, reason %#llx", v->id,
				(unsigned long long)
				run->fail_entry.hardware_entry_failure_reason);
			vmm_exit(VMM_EXIT_ERROR, "KVM_EXIT_FAIL_ENTRY");
		case KVM_EXIT_INTERNAL_ERROR:
			vmm_log("vCPU %d: internal error, suberror %u", v->id,
				run->internal.suberror);
			vmm_exit(VMM_EXIT_ERROR, "KVM_EXIT_INTERNAL_ERROR");
		default:
			vmm_log("vCPU %d: unhandled exit reason %u", v->id,
				run->exit_reason);
			vmm_exit(VMM_EXIT_ERROR, "unhandled exit");
		}
	}
	return NULL;
}

static int kvm_cap(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

static void create_vm(void)
{
	vm.kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm.kvm_fd < 0)
		die("/dev/kvm: %m");
	if (ioctl(vm.kvm_fd, KVM_GET_API_VERSION, NULL) != KVM_API_VERSION)
		die("unexpected KVM API version");
	if (vm.protected) {
		if (!(kvm_cap(vm.kvm_fd, KVM_CAP_VM_TYPES) &
		      (1 << KVM_X86_SW_PROTECTED_VM)))
			die("KVM_X86_SW_PROTECTED_VM not supported");
		if (!(kvm_cap(vm.kvm_fd, KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES) &
		      KVM_MEMORY_ATTRIBUTE_PRIVATE))
			die("guest_memfd does not own the private/shared state: load kvm with vm_memory_attributes=0 (or gmem_in_place_conversion=1)");
	}
	vm.vm_fd = ioctl(vm.kvm_fd, KVM_CREATE_VM,
			 vm.protected ? KVM_X86_SW_PROTECTED_VM : 0);
	if (vm.vm_fd < 0)
		die("KVM_CREATE_VM: %m");
	if (ioctl(vm.vm_fd, KVM_CREATE_IRQCHIP, NULL))
		die("KVM_CREATE_IRQCHIP: %m");
	{
		struct kvm_pit_config pit = { .flags = 0 };

		if (ioctl(vm.vm_fd, KVM_CREATE_PIT2, &pit))
			die("KVM_CREATE_PIT2: %m");
	}
	vm.run_size = ioctl(vm.kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (vm.run_size <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE: %m");
}

/*
 * The in-kernel conversion service, with the guest the owner of its
 * contents: this VMM never needs to share a page on the guest's behalf,
 * so it gives up the power to (--debug-stack needs it and keeps it).
 */
static void enable_gmem_pv(void)
{
	uint64_t want = KVM_GMEM_PV_HC_ENABLE |
			(vm.debug_stack ? 0 : KVM_GMEM_PV_HC_GUEST_OWNED) |
			(vm.canary ? KVM_GMEM_PV_HC_EXIT_ON_CONVERSION : 0);
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_GMEM_PV_MAP_GPA_RANGE,
		.args[0] = want,
	};

	/*
	 * --fail-share: upstream's path, KVM_EXIT_HYPERCALL, and the VMM's
	 * own conversions, so that it can make one fail.
	 */
	if (vm.fail_share) {
		cap.cap = KVM_CAP_EXIT_HYPERCALL;
		cap.args[0] = 1ULL << KVM_HC_MAP_GPA_RANGE;
		if (ioctl(vm.vm_fd, KVM_ENABLE_CAP, &cap))
			die("KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL): %m");
		vmm_log("conversions serviced by the VMM; one-page share %d fails",
			vm.fail_share);
		return;
	}

	if ((kvm_cap(vm.vm_fd, KVM_CAP_GMEM_PV_MAP_GPA_RANGE) & want) != want)
		die("KVM_CAP_GMEM_PV_MAP_GPA_RANGE: flags %#llx not available",
		    (unsigned long long)want);
	if (ioctl(vm.vm_fd, KVM_ENABLE_CAP, &cap))
		die("KVM_ENABLE_CAP(KVM_CAP_GMEM_PV_MAP_GPA_RANGE): %m");
}

static void create_vcpu(int id)
{
	struct vcpu *v = &vm.vcpus[id];

	v->id = id;
	v->fd = ioctl(vm.vm_fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0)
		die("KVM_CREATE_VCPU %d: %m", id);
	v->run = mmap(NULL, vm.run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED)
		die("mmap of kvm_run: %m");
	boot_setup_cpuid(v);
	if (id == 0)
		boot_setup_regs(v);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: gmem-vmm -k BZIMAGE [-i INITRD] [-a ARGS] [-m MIB] [-s VCPUS]\n"
		"                [-d DISK] [--unprotected] [--device-fault=exit|reset]\n"
		"                [-t SECONDS] [--no-rng] [--huge-pages=all|hinted|off]\n"
		"                [--no-huge-pages] [--debug-stack]\n"
		"                [--debug-shared] [--canary=HEX] [--fail-share=N]\n"
		"                [--outside-gmem=GPA] [--pin=GPA] [--e820-hole=GPA]\n"
		"Exit status: the guest's (0-63, written to port %#x), %d guest reset,\n"
		"%d device fault (private guest memory), %d VMM/KVM error, %d timeout.\n",
		EXIT_PORT, VMM_EXIT_RESET, VMM_EXIT_DEVICE_FAULT, VMM_EXIT_ERROR,
		VMM_EXIT_TIMEOUT);
	exit(VMM_EXIT_ERROR);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "mem", required_argument, NULL, 'm' },
		{ "smp", required_argument, NULL, 's' },
		{ "disk", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "unprotected", no_argument, NULL, 'u' },
		{ "device-fault", required_argument, NULL, 'f' },
		{ "no-rng", no_argument, NULL, 'R' },
		{ "debug-stack", no_argument, NULL, 'D' },
		{ "debug-shared", no_argument, NULL, 'S' },
		{ "huge-pages", optional_argument, NULL, 'P' },
		{ "no-huge-pages", no_argument, NULL, 'N' },
		{ "canary", required_argument, NULL, 'C' },
		{ "fail-share", required_argument, NULL, 'F' },
		{ "outside-gmem", required_argument, NULL, 'O' },
		{ "pin", required_argument, NULL, 'p' },
		{ "e820-hole", required_argument, NULL, 'H' },
		{ }
	};
	const char *kernel = NULL, *initrd = NULL, *append = "", *disk = NULL;
	uint64_t mem_mib = 512;
	int timeout = 0, c, i, n;
	bool no_rng = false;
	char cmdline[4096];

	vm.start = now();
	vm.protected = true;
	vm.nr_vcpus = 1;
	while ((c = getopt_long(argc, argv, "k:i:a:m:s:d:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			kernel = optarg;
			break;
		case 'i':
			initrd = optarg;
			break;
		case 'a':	/* several -a: joined with spaces */
			if (*append) {
				static char joined[4096];
				char tmp[4096];

				if (snprintf(tmp, sizeof(tmp), "%s %s", append,
					     optarg) >= (int)sizeof(tmp))
					usage();
				memcpy(joined, tmp, sizeof(joined));
				append = joined;
			} else {
				append = optarg;
			}
			break;
		case 'm':
			mem_mib = strtoull(optarg, NULL, 0);
			break;
		case 's':
			vm.nr_vcpus = atoi(optarg);
			break;
		case 'd':
			disk = optarg;
			break;
		case 't':
			timeout = atoi(optarg);
			break;
		case 'u':
			vm.protected = false;
			break;
		case 'R':
			no_rng = true;
			break;
		case 'D':
			vm.debug_stack = true;
			break;
		case 'S':
			vm.debug_shared = true;
			break;
		case 'P':
			if (!optarg || !strcmp(optarg, "all"))
				vm.huge = HUGE_ALL;
			else if (!strcmp(optarg, "hinted"))
				vm.huge = HUGE_HINTED;
			else if (!strcmp(optarg, "off"))
				vm.huge = HUGE_OFF;
			else
				usage();
			break;
		case 'N':
			vm.huge = HUGE_OFF;
			break;
		case 'C':
			vm.canary = strtoull(optarg, NULL, 16);
			if (!vm.canary)
				usage();
			break;
		case 'F':
			vm.fail_share = atoi(optarg);
			if (vm.fail_share < 1)
				usage();
			break;
		case 'O':
			vm.outside_gpa = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			vm.pin_gpa = strtoull(optarg, NULL, 0);
			break;
		case 'H':
			vm.e820_hole_gpa = strtoull(optarg, NULL, 0);
			break;
		case 'f':
			if (!strcmp(optarg, "reset"))
				vm.continue_on_fault = true;
			else if (strcmp(optarg, "exit"))
				usage();
			break;
		default:
			usage();
		}
	}
	if (!kernel || vm.nr_vcpus < 1 || vm.nr_vcpus > MAX_VCPUS ||
	    mem_mib < 64 || mem_mib > 3072)
		usage();

	create_vm();
	mem_init(mem_mib << 20, vm.protected);
	if (disk)
		blk_create(disk);
	if (!no_rng)
		rng_create();

	n = snprintf(cmdline, sizeof(cmdline),
		     "console=ttyS0 reboot=k panic=-1 %s", append);
	virtio_cmdline(cmdline + n, sizeof(cmdline) - n);
	boot_setup(kernel, initrd, cmdline);

	if (vm.protected) {
		if (!vm.debug_shared)
			mem_make_private();
		enable_gmem_pv();
	}
	for (i = 0; i < vm.nr_vcpus; i++)
		create_vcpu(i);
	vmm_log("%s guest: %d vCPU(s), %llu MiB%s, setup %.2f s",
		vm.protected ? "protected" : "unprotected", vm.nr_vcpus,
		(unsigned long long)mem_mib,
		vm.protected ? " in guest_memfd, all private" : "",
		now() - vm.start);
	{
		struct sigaction sa = { .sa_handler = sigusr1 };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
	}
	for (i = 0; i < vm.nr_vcpus; i++)
		if (pthread_create(&vm.vcpus[i].thread, NULL, vcpu_thread,
				   &vm.vcpus[i]))
			die("pthread_create");

	for (;;) {
		sleep(1);
		if (!timeout || now() - vm.start <= timeout)
			continue;
		/* Kick every vCPU out of KVM_RUN to show where it was. */
		__atomic_store_n(&vm.dump, 1, __ATOMIC_RELEASE);
		for (i = 0; i < vm.nr_vcpus; i++) {
			vm.vcpus[i].run->immediate_exit = 1;
			pthread_kill(vm.vcpus[i].thread, SIGUSR1);
		}
		sleep(2);
		vmm_exit(VMM_EXIT_TIMEOUT, "timeout");
	}
}
