/*
 * gmem-pv protected guests: the gmem-pv-guest object
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 *   -object gmem-pv-guest,id=gp0 -machine q35,confidential-guest-support=gp0
 *
 * makes a KVM_X86_SW_PROTECTED_VM whose RAM lives in guest_memfd, one file
 * per memory backend, mapped as the RAM block's memory and converted in
 * place: a page is private or shared only in guest_memfd, and the guest
 * converts by KVM_HC_MAP_GPA_RANGE, serviced in KVM (or here, service=off).
 * RAM starts shared, so that firmware, loader and fw_cfg DMA work, until
 * the gmem-pv guest makes its RAM private at boot.  See
 * Documentation/virt/gmem-pv/qemu.rst of the gmem-pv project.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include <linux/kvm.h>
#include <linux/kvm_para.h>
#include <sys/ioctl.h>
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qemu/units.h"
#include "qom/object_interfaces.h"
#include "system/kvm.h"
#include "system/system.h"
#include "system/reset.h"
#include "system/hw_accel.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "system/dma.h"
#include "migration/blocker.h"
#include "monitor/monitor.h"
#include "monitor/hmp-target.h"
#include "hw/boards.h"
#include "hw/i386/x86.h"
#include "cpu.h"
#include "kvm_i386.h"
#include "gmem-pv.h"

/* RAM blocks that are in-place guest_memfds, with their GPA ranges. */
#define GMEM_PV_MAX_RANGES 16

typedef struct GmemPvRange {
    uintptr_t host;             /* host address of the range */
    uint64_t size;
    uint64_t gpa;
    uint64_t offset;            /* offset in the RAM block (= guest_memfd) */
    RAMBlock *rb;
} GmemPvRange;

struct GmemPvGuest {
    X86ConfidentialGuest parent_obj;

    /* properties */
    bool service;               /* KVM_HC_MAP_GPA_RANGE serviced in KVM */
    bool guest_owned;           /* KVM_GMEM_PV_HC_GUEST_OWNED */
    bool xsave;                 /* leave XSAVE and what needs it in CPUID */
    bool debug_port;            /* test port 0x502, like the reference VMM */
    char *huge_pages;           /* "all", "hinted" or "off" */

    /* state */
    uint64_t gmem_flags;
    Error *migration_blocker;
    Notifier machine_done;
    Notifier exit_notifier;
    MemoryRegion port;
    int64_t start_ns;
    unsigned int extents_call;
    unsigned int resets;

    /* conversions done by QEMU (service=off, memory faults) */
    uint64_t qemu_to_private_pages;
    uint64_t qemu_to_shared_pages;
    uint64_t qemu_conversion_errors;
};

static GmemPvGuest *gmem_pv;
static struct sigaction gmem_pv_old_sigbus;

/* The guest_memfd RAM blocks, and their GPAs at machine init, for SIGBUS. */
static RAMBlock *gmem_pv_blocks[GMEM_PV_MAX_RANGES];
static int gmem_pv_nr_blocks;

typedef struct GmemPvRanges {
    GmemPvRange r[GMEM_PV_MAX_RANGES];
    int nr;
} GmemPvRanges;

static GmemPvRanges gmem_pv_map;

static int gmem_pv_check(KVMState *s, unsigned int cap, uint64_t want,
                         const char *what, Error **errp)
{
    int r = kvm_vm_check_extension(s, cap);

    if (r < 0 || ((uint64_t)r & want) != want) {
        error_setg(errp, "gmem-pv-guest: this kernel lacks %s: "
                   "KVM_CHECK_EXTENSION(%u) = %d, need 0x%" PRIx64
                   " (a gmem-pv host kernel, kvm loaded with "
                   "vm_memory_attributes=0)", what, cap, r, want);
        return -1;
    }
    return r;
}

/*
 * The GPA of a RAM block offset in the memory map at machine init; -1 if
 * it was not mapped then.  Called from the SIGBUS handler: no locks, no
 * allocation.
 */
static uint64_t gmem_pv_gpa_of(RAMBlock *rb, uint64_t offset)
{
    int i;

    for (i = 0; i < gmem_pv_map.nr; i++) {
        GmemPvRange *r = &gmem_pv_map.r[i];

        if (r->rb == rb && offset >= r->offset &&
            offset - r->offset < r->size) {
            return r->gpa + offset - r->offset;
        }
    }
    return -1ULL;
}

/*
 * SIGBUS in QEMU at an in-place guest_memfd: QEMU (a device model, the
 * monitor, a loader) touched a page the guest keeps private.  KVM refused
 * the access; nothing was read or written.  Say where, and end QEMU: the
 * access cannot be completed, and returning would fault again.
 */
static void gmem_pv_sigbus(int sig, siginfo_t *si, void *ctx)
{
    uintptr_t addr = (uintptr_t)si->si_addr;
    char msg[320], who[64] = "the main loop or an I/O thread";
    int i, n;

    for (i = 0; i < gmem_pv_nr_blocks; i++) {
        RAMBlock *rb = gmem_pv_blocks[i];
        uintptr_t host = (uintptr_t)rb->host;

        if (addr < host || addr - host >= rb->max_length) {
            continue;
        }
        if (current_cpu && current_cpu->kvm_run) {
            snprintf(who, sizeof(who), "vCPU %d, KVM exit %u",
                     current_cpu->cpu_index,
                     current_cpu->kvm_run->exit_reason);
        }
        n = snprintf(msg, sizeof(msg),
                     "gmem-pv: QEMU accessed private guest memory at GPA "
                     "0x%" PRIx64 " (RAM block %s, offset 0x%" PRIx64
                     ", in %s): refused by KVM (SIGBUS); nothing was read "
                     "or written; exiting with status %d\n",
                     gmem_pv_gpa_of(rb, addr - host), rb->idstr,
                     (uint64_t)(addr - host), who,
                     GMEM_PV_EXIT_PRIVATE_ACCESS);
        if (n > 0 && write(STDERR_FILENO, msg, MIN(n, sizeof(msg) - 1)) < 0) {
            _exit(GMEM_PV_EXIT_PRIVATE_ACCESS);
        }
        _exit(GMEM_PV_EXIT_PRIVATE_ACCESS);
    }

    /* Not ours (a memory error, another mapping): QEMU's handler. */
    if (gmem_pv_old_sigbus.sa_flags & SA_SIGINFO) {
        gmem_pv_old_sigbus.sa_sigaction(sig, si, ctx);
    } else if (gmem_pv_old_sigbus.sa_handler != SIG_DFL &&
               gmem_pv_old_sigbus.sa_handler != SIG_IGN) {
        gmem_pv_old_sigbus.sa_handler(sig);
    } else {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

static bool gmem_pv_note_range(Int128 start, Int128 len,
                               const MemoryRegion *mr,
                               hwaddr offset_in_region, void *opaque)
{
    GmemPvRanges *t = opaque;
    RAMBlock *rb = mr->ram_block;
    GmemPvRange *r;

    if (!rb || rb->guest_memfd < 0) {
        return false;
    }
    if (t->nr == GMEM_PV_MAX_RANGES) {
        error_report("gmem-pv-guest: more than %d guest_memfd ranges in "
                     "the memory map; the rest is not reported",
                     GMEM_PV_MAX_RANGES);
        return true;
    }
    r = &t->r[t->nr++];
    r->rb = rb;
    r->gpa = int128_get64(start);
    r->size = int128_get64(len);
    r->offset = offset_in_region;
    r->host = (uintptr_t)rb->host + r->offset;
    return false;
}

/* The guest_memfd RAM of the memory map as it is now. */
static void gmem_pv_map_ranges(GmemPvRanges *t)
{
    RCU_READ_LOCK_GUARD();

    t->nr = 0;
    flatview_for_each_range(address_space_to_flatview(&address_space_memory),
                            gmem_pv_note_range, t);
}

/* Call @fn for each extent of each in-place guest_memfd, GPAs given. */
typedef void (*gmem_pv_extent_fn)(GmemPvRange *r, uint64_t gpa,
                                  uint64_t size, bool private, void *opaque);

static int gmem_pv_walk_extents(gmem_pv_extent_fn fn, void *opaque)
{
    struct gmem_pv_attribute_extent ext[256];
    GmemPvRanges t;
    int i;

    gmem_pv_map_ranges(&t);
    for (i = 0; i < t.nr; i++) {
        GmemPvRange *r = &t.r[i];
        uint64_t off = r->offset, end = r->offset + r->size;

        while (off < end) {
            struct gmem_pv_attributes2_query q = {
                .offset = off,
                .size = end - off,
                .nr_extents = ARRAY_SIZE(ext),
                .extents = (uintptr_t)ext,
            };
            uint64_t j;

            if (ioctl(r->rb->guest_memfd, GMEM_PV_GET_MEMORY_ATTRIBUTES2,
                      &q) < 0) {
                return -errno;
            }
            if (!q.nr_extents) {
                break;
            }
            for (j = 0; j < q.nr_extents; j++) {
                fn(r, r->gpa + ext[j].offset - r->offset, ext[j].size,
                   ext[j].attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE, opaque);
            }
            off = ext[q.nr_extents - 1].offset + ext[q.nr_extents - 1].size;
        }
    }
    return 0;
}

typedef struct GmemPvCount {
    uint64_t shared, total;
    unsigned int call;
    bool print;
} GmemPvCount;

static void gmem_pv_extent(GmemPvRange *r, uint64_t gpa, uint64_t size,
                           bool private, void *opaque)
{
    GmemPvCount *c = opaque;

    c->total += size / TARGET_PAGE_SIZE;
    if (private) {
        return;
    }
    c->shared += size / TARGET_PAGE_SIZE;
    if (c->print) {
        error_printf("gmem-pv: SHARED-EXTENT call=%u start=0x%" PRIx64
                     " end=0x%" PRIx64 " block=%s\n", c->call, gpa,
                     gpa + size, r->rb->idstr);
    }
}

/* The VM's gmem-pv and mapping counters from KVM's binary stats. */
static void gmem_pv_print_stats(const char *prefix, uint64_t shared,
                                uint64_t total)
{
    static const char *const want[] = {
        "gmem_pv_", "pages_4k", "pages_2m", "pages_1g",
    };
    g_autoptr(GString) line = g_string_new(prefix);
    struct kvm_stats_header h;
    g_autofree char *descs = NULL;
    size_t dsz;
    uint32_t j;
    int fd;

    fd = kvm_vm_ioctl(kvm_state, KVM_GET_STATS_FD, NULL);
    if (fd < 0) {
        return;
    }
    if (pread(fd, &h, sizeof(h), 0) != sizeof(h)) {
        goto out;
    }
    dsz = sizeof(struct kvm_stats_desc) + h.name_size;
    descs = g_malloc0(h.num_desc * dsz);
    if (pread(fd, descs, h.num_desc * dsz, h.desc_offset) !=
        (ssize_t)(h.num_desc * dsz)) {
        goto out;
    }
    for (j = 0; j < h.num_desc; j++) {
        struct kvm_stats_desc *d = (void *)(descs + j * dsz);
        uint64_t val;
        int i;

        for (i = 0; i < ARRAY_SIZE(want); i++) {
            if (!strncmp(d->name, want[i], strlen(want[i]))) {
                break;
            }
        }
        if (i == ARRAY_SIZE(want) || d->size != 1) {
            continue;
        }
        if (pread(fd, &val, sizeof(val), h.data_offset + d->offset) ==
            sizeof(val)) {
            g_string_append_printf(line, " %s=%" PRIu64, d->name, val);
        }
    }
    error_printf("%s qemu_to_private_pages=%" PRIu64
                 " qemu_to_shared_pages=%" PRIu64
                 " qemu_conversion_errors=%" PRIu64
                 " shared_pages_end=%" PRIu64 " guest_pages=%" PRIu64 "\n",
                 line->str, gmem_pv->qemu_to_private_pages,
                 gmem_pv->qemu_to_shared_pages,
                 gmem_pv->qemu_conversion_errors, shared, total);
out:
    close(fd);
}

/*
 * The report: every shared extent of the guest's RAM by GPA, their total,
 * and the conversion counters.  At exit, and when the guest asks on the
 * test port.
 */
static void gmem_pv_report(bool extents)
{
    GmemPvCount c = { .call = ++gmem_pv->extents_call, .print = extents };
    int ret = gmem_pv_walk_extents(gmem_pv_extent, &c);

    if (ret < 0) {
        error_printf("gmem-pv: KVM_GET_MEMORY_ATTRIBUTES2: %s\n",
                     strerror(-ret));
        return;
    }
    error_printf("gmem-pv: SHARED-EXTENTS-END call=%u shared_pages=%" PRIu64
                 " guest_pages=%" PRIu64 "\n", c.call, c.shared, c.total);
    gmem_pv_print_stats("gmem-pv: STATS", c.shared, c.total);
}

static void gmem_pv_exit_report(Notifier *n, void *data)
{
    CPUState *cpu;

    error_printf("gmem-pv: exit report\n");
    gmem_pv_report(true);
    if (!gmem_pv->debug_port) {
        return;
    }
    /*
     * Testing: where each vCPU is, for a guest that stopped early.  The
     * registers only: CPU_DUMP_CODE would read the guest's code through
     * its page tables, which are private (SIGBUS).
     */
    CPU_FOREACH(cpu) {
        cpu_synchronize_state(cpu);
        error_printf("gmem-pv: vCPU %d state:\n", cpu->cpu_index);
        cpu_dump_state(cpu, stderr, 0);
    }
}

/* info gmem-pv: the report, on the monitor. */
void hmp_info_gmem_pv(Monitor *mon, const QDict *qdict)
{
    if (!gmem_pv) {
        monitor_printf(mon, "gmem-pv: no gmem-pv-guest in this machine\n");
        return;
    }
    gmem_pv_report(true);
}

/* 1 if the page at @gpa is private, 0 if shared, -1 if not guest_memfd. */
static int gmem_pv_page_private(uint64_t gpa)
{
    struct gmem_pv_attribute_extent e;
    GmemPvRanges t;
    int i;

    gmem_pv_map_ranges(&t);
    for (i = 0; i < t.nr; i++) {
        GmemPvRange *r = &t.r[i];
        struct gmem_pv_attributes2_query q = {
            .size = TARGET_PAGE_SIZE,
            .nr_extents = 1,
            .extents = (uintptr_t)&e,
        };

        if (gpa < r->gpa || gpa - r->gpa >= r->size) {
            continue;
        }
        q.offset = r->offset + (gpa - r->gpa);
        if (ioctl(r->rb->guest_memfd, GMEM_PV_GET_MEMORY_ATTRIBUTES2,
                  &q) < 0 || q.nr_extents != 1) {
            return -1;
        }
        return !!(e.attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE);
    }
    return -1;
}

/*
 * The private-page probe (test port, event 2): QEMU reads the first page
 * of the guest kernel (16 MiB) as a device would, through the address
 * space.  A protected guest keeps it private, so the read faults and the
 * SIGBUS handler ends QEMU naming the GPA; if it is read, the protection
 * failed, and that is said.
 */
static void gmem_pv_probe(void)
{
    const uint64_t gpa = 16 * MiB;
    uint64_t word = 0;
    int private = gmem_pv_page_private(gpa);

    error_printf("gmem-pv: probe: GPA 0x%" PRIx64 " is %s; QEMU reads it "
                 "through its own mapping\n", gpa,
                 private < 0 ? "not guest_memfd" :
                 private ? "private" : "shared");
    address_space_read(&address_space_memory, gpa, MEMTXATTRS_UNSPECIFIED,
                       &word, sizeof(word));
    error_printf("gmem-pv: PROBE-RESULT private_gpa=0x%" PRIx64
                 " leaked=1 word=0x%" PRIx64 "\n", gpa, word);
}

/*
 * The DMA probe (test port, event 5): a device-style DMA write of 8 bytes
 * into the first page of the guest kernel (16 MiB), through QEMU's DMA API
 * (dma_memory_write(), what device models use).  The guest keeps the page
 * private, so the write faults and the SIGBUS handler ends QEMU naming the
 * GPA; nothing is written.  A gmem-pv guest never gives a device private
 * memory itself (its dma-direct refuses), so the test asks QEMU to.
 */
static void gmem_pv_dma_probe(void)
{
    const uint64_t gpa = 16 * MiB;
    uint64_t word = 0x646d612d70726f62ULL;
    int private = gmem_pv_page_private(gpa);
    MemTxResult r;

    error_printf("gmem-pv: dma probe: GPA 0x%" PRIx64 " is %s; QEMU writes "
                 "8 bytes there with dma_memory_write(), as a device does\n",
                 gpa, private < 0 ? "not guest_memfd" :
                 private ? "private" : "shared");
    r = dma_memory_write(&address_space_memory, gpa, &word, sizeof(word),
                         MEMTXATTRS_UNSPECIFIED);
    error_printf("gmem-pv: DMA-PROBE-RESULT private_gpa=0x%" PRIx64
                 " written=1 result=%d\n", gpa, r);
}

static uint64_t gmem_pv_port_read(void *opaque, hwaddr addr, unsigned size)
{
    return 0;
}

/*
 * The test port, as the reference VMM's: a byte to 0x501 ends QEMU with
 * that exit status (the exit report is printed first); 0x502 takes events.
 */
static void gmem_pv_port_write(void *opaque, hwaddr addr, uint64_t val,
                               unsigned size)
{
    if (addr == 0) {
        error_printf("gmem-pv: guest exit status %" PRIu64 "\n", val);
        exit(val);
    }
    switch (val) {
    case 1:
        error_printf("gmem-pv: BOOT userspace_secs=%.2f\n",
                     (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) -
                      gmem_pv->start_ns) / 1e9);
        break;
    case 2:
        gmem_pv_probe();
        break;
    case 3:
        gmem_pv_report(false);
        break;
    case 4:
        gmem_pv_report(true);
        break;
    case 5:
        gmem_pv_dma_probe();
        break;
    default:
        error_printf("gmem-pv: test port: unknown event %" PRIu64 "\n", val);
    }
}

static const MemoryRegionOps gmem_pv_port_ops = {
    .read = gmem_pv_port_read,
    .write = gmem_pv_port_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .impl = {
        .min_access_size = 1,
        .max_access_size = 1,
    },
};

/*
 * CPUID a gmem-pv guest cannot boot without.  RDRAND: the guest is a
 * confidential guest (CC_ATTR_GUEST_MEM_ENCRYPT), and Linux's
 * cc_random_init() panics such a guest without it ("RDRAND is
 * defective."), in setup_arch(), before its console is up and before
 * panic= is parsed: with QEMU's default CPU model (qemu64) the guest
 * printed nothing and spun in panic()'s delay loop until killed.
 */
static bool gmem_pv_check_cpus(void)
{
    CPUState *cs;

    CPU_FOREACH(cs) {
        CPUX86State *env = &X86_CPU(cs)->env;

        if (!(env->features[FEAT_1_ECX] & CPUID_EXT_RDRAND)) {
            error_report("gmem-pv-guest: vCPU %d's CPU model lacks RDRAND "
                         "(CPUID.1:ECX bit 30): a protected guest's kernel "
                         "panics at boot without it (\"RDRAND is "
                         "defective.\", before its console), as every "
                         "confidential guest's; use -cpu host or add "
                         "+rdrand", cs->cpu_index);
            return false;
        }
    }
    return true;
}

static void gmem_pv_machine_done(Notifier *n, void *data)
{
    GmemPvGuest *gp = container_of(n, GmemPvGuest, machine_done);
    struct sigaction sa = {
        .sa_sigaction = gmem_pv_sigbus,
        .sa_flags = SA_SIGINFO,
    };
    uint64_t pages = 0;
    int i;

    if (!gmem_pv_check_cpus()) {
        exit(1);
    }
    gmem_pv_map_ranges(&gmem_pv_map);
    if (!gmem_pv_map.nr) {
        error_report("gmem-pv-guest: no guest RAM is in guest_memfd; "
                     "the machine's RAM must be a memory backend");
        exit(1);
    }
    for (i = 0; i < gmem_pv_map.nr; i++) {
        RAMBlock *rb = gmem_pv_map.r[i].rb;
        int j;

        pages += gmem_pv_map.r[i].size / TARGET_PAGE_SIZE;
        for (j = 0; j < gmem_pv_nr_blocks && gmem_pv_blocks[j] != rb; j++) {
            ;
        }
        if (j == gmem_pv_nr_blocks) {
            gmem_pv_blocks[gmem_pv_nr_blocks++] = rb;
        }
    }

    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &gmem_pv_old_sigbus) < 0) {
        error_report("gmem-pv-guest: SIGBUS handler: %s", strerror(errno));
        exit(1);
    }

    if (gp->debug_port) {
        memory_region_init_io(&gp->port, OBJECT(gp), &gmem_pv_port_ops, gp,
                              "gmem-pv-test-port", 2);
        memory_region_add_subregion(get_system_io(), 0x501, &gp->port);
    }

    gp->exit_notifier.notify = gmem_pv_exit_report;
    qemu_add_exit_notifier(&gp->exit_notifier);

    error_printf("gmem-pv: protected guest: %" PRIu64 " MiB of RAM in %d "
                 "guest_memfd, flags 0x%" PRIx64 ", shared until "
                 "the guest makes it private; KVM_HC_MAP_GPA_RANGE in %s\n",
                 pages * TARGET_PAGE_SIZE / MiB, gmem_pv_nr_blocks,
                 gp->gmem_flags, gp->service ? "KVM" : "QEMU");
}

/*
 * Convert [@start, @start + @size) in place: KVM_SET_MEMORY_ATTRIBUTES2 on
 * the guest_memfd of each RAM block the range covers, nothing discarded.
 * Returns 0 or a negative KVM_HC_MAP_GPA_RANGE code (-KVM_EINVAL,
 * -KVM_EFAULT, -KVM_EPERM, -EAGAIN, -ENOMEM).
 */
static int gmem_pv_convert_memory(ConfidentialGuestSupport *cgs,
                                  hwaddr start, hwaddr size, bool to_private)
{
    GmemPvGuest *gp = GMEM_PV_GUEST(cgs);
    hwaddr end = start + size;

    if (!size || end < start || (start | size) & ~TARGET_PAGE_MASK) {
        return -KVM_EINVAL;
    }
    while (start < end) {
        MemoryRegionSection sec =
            memory_region_find(get_system_memory(), start, end - start);
        struct gmem_pv_memory_attributes2 a = {
            .attributes = to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
        };
        RAMBlock *rb = sec.mr ? sec.mr->ram_block : NULL;
        int ret = 0;

        if (!rb || rb->guest_memfd < 0) {
            error_report("gmem-pv: cannot convert GPA [0x%" HWADDR_PRIx
                         ", 0x%" HWADDR_PRIx ") to %s: not guest RAM in "
                         "guest_memfd", start, end,
                         to_private ? "private" : "shared");
            ret = -KVM_EFAULT;
        } else if (sec.offset_within_address_space != start) {
            ret = -KVM_EFAULT;
        } else {
            a.offset = sec.offset_within_region;
            a.size = int128_get64(sec.size);
            if (ioctl(rb->guest_memfd, GMEM_PV_SET_MEMORY_ATTRIBUTES2,
                      &a) < 0) {
                ret = errno == EAGAIN ? -GMEM_PV_KVM_EAGAIN :
                      errno == ENOMEM ? -GMEM_PV_KVM_ENOMEM :
                      errno == EPERM ? -KVM_EPERM : -KVM_EINVAL;
                error_report("gmem-pv: converting GPA [0x%" HWADDR_PRIx
                             ", 0x%" HWADDR_PRIx ") to %s: %s",
                             start, start + a.size,
                             to_private ? "private" : "shared",
                             strerror(errno));
            } else if (to_private) {
                gp->qemu_to_private_pages += a.size / TARGET_PAGE_SIZE;
            } else {
                gp->qemu_to_shared_pages += a.size / TARGET_PAGE_SIZE;
            }
        }
        if (sec.mr) {
            memory_region_unref(sec.mr);
        }
        if (ret) {
            gp->qemu_conversion_errors++;
            return ret;
        }
        start += a.size;
    }
    return 0;
}

/*
 * Reset: a guest that restarts gets its RAM back shared, zeroed, so that
 * firmware and loader can write it again and nothing of the old guest's
 * private memory becomes visible.  The first reset is the machine's
 * initial one; RAM is shared and empty then.
 */
static void gmem_pv_reset(void *opaque)
{
    GmemPvGuest *gp = opaque;
    int i;

    if (!gp->resets++) {
        return;
    }
    for (i = 0; i < gmem_pv_nr_blocks; i++) {
        RAMBlock *rb = gmem_pv_blocks[i];
        struct gmem_pv_memory_attributes2 a = {
            .size = rb->max_length,
            .flags = GMEM_PV_ATTRS2_ZERO,
        };

        if (ioctl(rb->guest_memfd, GMEM_PV_SET_MEMORY_ATTRIBUTES2, &a) < 0) {
            error_report("gmem-pv: reset: cannot make RAM block %s shared "
                         "and zeroed: %s; exiting", rb->idstr,
                         strerror(errno));
            exit(1);
        }
    }
}

static int gmem_pv_kvm_type(X86ConfidentialGuest *cg)
{
    KVMState *s = KVM_STATE(current_machine->accelerator);
    int types = kvm_check_extension(s, KVM_CAP_VM_TYPES);

    if (!(types & BIT(KVM_X86_SW_PROTECTED_VM))) {
        error_report("gmem-pv-guest: KVM does not offer "
                     "KVM_X86_SW_PROTECTED_VM (KVM_CAP_VM_TYPES = 0x%x): "
                     "this kernel cannot run protected guests", types);
        exit(1);
    }
    return KVM_X86_SW_PROTECTED_VM;
}

static int gmem_pv_kvm_init(ConfidentialGuestSupport *cgs, Error **errp)
{
    GmemPvGuest *gp = GMEM_PV_GUEST(cgs);
    MachineState *ms = current_machine;
    X86MachineState *x86ms = X86_MACHINE(ms);
    KVMState *s = KVM_STATE(ms->accelerator);
    uint64_t hc = GMEM_PV_HC_ENABLE;
    int flags;

    if (gmem_pv) {
        error_setg(errp, "gmem-pv-guest: only one per machine");
        return -1;
    }
    if (gmem_pv_check(s, GMEM_PV_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES,
                      KVM_MEMORY_ATTRIBUTE_PRIVATE,
                      "private/shared state in guest_memfd "
                      "(KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES)", errp) < 0 ||
        gmem_pv_check(s, GMEM_PV_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS, 1,
                      "KVM_GET_MEMORY_ATTRIBUTES2 "
                      "(KVM_CAP_GUEST_MEMFD_ATTRIBUTE_EXTENTS)", errp) < 0) {
        return -1;
    }
    flags = gmem_pv_check(s, KVM_CAP_GUEST_MEMFD_FLAGS,
                          GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED,
                          "mappable guest_memfd created shared "
                          "(KVM_CAP_GUEST_MEMFD_FLAGS: MMAP, INIT_SHARED)",
                          errp);
    if (flags < 0) {
        return -1;
    }
    gp->gmem_flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
    if (!g_strcmp0(gp->huge_pages, "all") ||
        !g_strcmp0(gp->huge_pages, "hinted")) {
        if (flags & GMEM_PV_FLAG_HUGE) {
            gp->gmem_flags |= GMEM_PV_FLAG_HUGE;
        }
        if ((flags & GMEM_PV_FLAG_HUGE_HINTED) &&
            !g_strcmp0(gp->huge_pages, "hinted")) {
            gp->gmem_flags |= GMEM_PV_FLAG_HUGE_HINTED;
        }
    } else if (g_strcmp0(gp->huge_pages, "off")) {
        error_setg(errp, "gmem-pv-guest: huge-pages=%s: must be all, "
                   "hinted or off", gp->huge_pages);
        return -1;
    }
    cgs->guest_memfd_flags = gp->gmem_flags;

    if (gp->service) {
        if (gp->guest_owned) {
            hc |= GMEM_PV_HC_GUEST_OWNED;
        }
        if (gmem_pv_check(s, GMEM_PV_CAP_MAP_GPA_RANGE, hc,
                          "the in-kernel KVM_HC_MAP_GPA_RANGE service "
                          "(KVM_CAP_GMEM_PV_MAP_GPA_RANGE)", errp) < 0) {
            return -1;
        }
        if (kvm_vm_enable_cap(s, GMEM_PV_CAP_MAP_GPA_RANGE, 0, hc) < 0) {
            error_setg(errp, "gmem-pv-guest: KVM_ENABLE_CAP("
                       "KVM_CAP_GMEM_PV_MAP_GPA_RANGE, 0x%" PRIx64 ") failed",
                       hc);
            return -1;
        }
    } else {
        if (gp->guest_owned) {
            error_setg(errp, "gmem-pv-guest: guest-owned=on needs "
                       "service=on (KVM enforces it only for its service)");
            return -1;
        }
        if (gmem_pv_check(s, KVM_CAP_EXIT_HYPERCALL,
                          BIT_ULL(KVM_HC_MAP_GPA_RANGE),
                          "KVM_HC_MAP_GPA_RANGE exits (KVM_CAP_EXIT_HYPERCALL)",
                          errp) < 0) {
            return -1;
        }
        if (!kvm_enable_hypercall(BIT_ULL(KVM_HC_MAP_GPA_RANGE))) {
            error_setg(errp, "gmem-pv-guest: KVM_ENABLE_CAP("
                       "KVM_CAP_EXIT_HYPERCALL) failed");
            return -1;
        }
    }

    if (x86ms->smm == ON_OFF_AUTO_AUTO) {
        x86ms->smm = ON_OFF_AUTO_OFF;
    } else if (x86ms->smm == ON_OFF_AUTO_ON) {
        error_setg(errp, "gmem-pv-guest: smm=on is not supported: SMRAM "
                   "would map guest RAM's guest_memfd a second time");
        return -1;
    }
    if (ms->ram_slots || ms->maxram_size > ms->ram_size) {
        error_setg(errp, "gmem-pv-guest: memory hotplug (-m slots=, maxmem=) "
                   "is not supported: the guest makes only its boot RAM "
                   "private, and hot-added memory would be used as private "
                   "while shared");
        return -1;
    }

    /*
     * The APIC's vapic (kvmvapic.bin, a TPR optimization for old 32-bit
     * Windows) reads and patches guest code from QEMU on the guest's TPR
     * accesses: a host write into guest memory, and a read of private
     * memory (SIGBUS) once the guest made it private.  Off.
     */
    object_register_sugar_prop("apic-common", "vapic", "off", false);

    error_setg(&gp->migration_blocker, "gmem-pv-guest: migration and "
               "savevm are not supported: guest memory is private to the "
               "guest, QEMU cannot read it, and its private/shared state "
               "lives in KVM's guest_memfd");
    if (migrate_add_blocker(&gp->migration_blocker, errp) < 0) {
        return -1;
    }

    gmem_pv = gp;
    gp->start_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    gp->machine_done.notify = gmem_pv_machine_done;
    qemu_add_machine_init_done_notifier(&gp->machine_done);
    qemu_register_reset(gmem_pv_reset, gp);
    cgs->ready = true;
    return 0;
}

/*
 * What the guest's CPUID gets: KVM_FEATURE_GMEM_PV, which no
 * KVM_GET_SUPPORTED_CPUID reports, and, unless xsave=on, no XSAVE and none
 * of the features whose state XSAVE manages (as the reference VMM).
 */
static uint32_t gmem_pv_mask_cpuid_features(X86ConfidentialGuest *cg,
                                            uint32_t feature, uint32_t index,
                                            int reg, uint32_t value)
{
    GmemPvGuest *gp = GMEM_PV_GUEST(cg);

    if (feature == KVM_CPUID_FEATURES && reg == R_EAX) {
        return value | BIT(GMEM_PV_KVM_FEATURE_BIT);
    }
    if (gp->xsave) {
        return value;
    }
    if (feature == 1 && reg == R_ECX) {
        return value & ~(CPUID_EXT_XSAVE | CPUID_EXT_OSXSAVE | CPUID_EXT_AVX |
                         CPUID_EXT_FMA | CPUID_EXT_F16C);
    }
    if (feature == 7 && index == 0 && reg == R_EBX) {
        return value & ~(CPUID_7_0_EBX_AVX2 | CPUID_7_0_EBX_AVX512F |
                         CPUID_7_0_EBX_AVX512DQ | CPUID_7_0_EBX_AVX512IFMA |
                         CPUID_7_0_EBX_AVX512PF | CPUID_7_0_EBX_AVX512ER |
                         CPUID_7_0_EBX_AVX512CD | CPUID_7_0_EBX_AVX512BW |
                         CPUID_7_0_EBX_AVX512VL);
    }
    if (feature == 7 && index == 0 && reg == R_ECX) {
        return value & ~(CPUID_7_0_ECX_VAES | CPUID_7_0_ECX_VPCLMULQDQ |
                         CPUID_7_0_ECX_AVX512_VBMI |
                         CPUID_7_0_ECX_AVX512_VBMI2 |
                         CPUID_7_0_ECX_AVX512VNNI | CPUID_7_0_ECX_AVX512BITALG |
                         CPUID_7_0_ECX_AVX512_VPOPCNTDQ);
    }
    if (feature == 7 && index == 0 && reg == R_EDX) {
        return value & ~(CPUID_7_0_EDX_AVX512_4VNNIW |
                         CPUID_7_0_EDX_AVX512_4FMAPS |
                         CPUID_7_0_EDX_AVX512_VP2INTERSECT |
                         CPUID_7_0_EDX_AVX512_FP16 | CPUID_7_0_EDX_AMX_BF16 |
                         CPUID_7_0_EDX_AMX_TILE | CPUID_7_0_EDX_AMX_INT8);
    }
    if (feature == 7 && index == 1 && reg == R_EAX) {
        return value & ~(CPUID_7_1_EAX_AVX_VNNI | CPUID_7_1_EAX_AVX512_BF16);
    }
    if (feature == 0xd) {
        return 0;
    }
    return value;
}

static bool gmem_pv_get_service(Object *obj, Error **errp)
{
    return GMEM_PV_GUEST(obj)->service;
}

static void gmem_pv_set_service(Object *obj, bool v, Error **errp)
{
    GMEM_PV_GUEST(obj)->service = v;
}

static bool gmem_pv_get_guest_owned(Object *obj, Error **errp)
{
    return GMEM_PV_GUEST(obj)->guest_owned;
}

static void gmem_pv_set_guest_owned(Object *obj, bool v, Error **errp)
{
    GMEM_PV_GUEST(obj)->guest_owned = v;
}

static bool gmem_pv_get_xsave(Object *obj, Error **errp)
{
    return GMEM_PV_GUEST(obj)->xsave;
}

static void gmem_pv_set_xsave(Object *obj, bool v, Error **errp)
{
    GMEM_PV_GUEST(obj)->xsave = v;
}

static bool gmem_pv_get_debug_port(Object *obj, Error **errp)
{
    return GMEM_PV_GUEST(obj)->debug_port;
}

static void gmem_pv_set_debug_port(Object *obj, bool v, Error **errp)
{
    GMEM_PV_GUEST(obj)->debug_port = v;
}

static char *gmem_pv_get_huge_pages(Object *obj, Error **errp)
{
    return g_strdup(GMEM_PV_GUEST(obj)->huge_pages);
}

static void gmem_pv_set_huge_pages(Object *obj, const char *v, Error **errp)
{
    GmemPvGuest *gp = GMEM_PV_GUEST(obj);

    if (strcmp(v, "all") && strcmp(v, "hinted") && strcmp(v, "off")) {
        error_setg(errp, "gmem-pv-guest: huge-pages=%s: must be all, hinted "
                   "or off", v);
        return;
    }
    g_free(gp->huge_pages);
    gp->huge_pages = g_strdup(v);
}

static void gmem_pv_guest_class_init(ObjectClass *oc, void *data)
{
    ConfidentialGuestSupportClass *cgsc = CONFIDENTIAL_GUEST_SUPPORT_CLASS(oc);
    X86ConfidentialGuestClass *xc = X86_CONFIDENTIAL_GUEST_CLASS(oc);

    cgsc->kvm_init = gmem_pv_kvm_init;
    cgsc->convert_memory = gmem_pv_convert_memory;
    xc->kvm_type = gmem_pv_kvm_type;
    xc->mask_cpuid_features = gmem_pv_mask_cpuid_features;

    object_class_property_add_bool(oc, "service", gmem_pv_get_service,
                                   gmem_pv_set_service);
    object_class_property_set_description(oc, "service",
        "KVM services the guest's KVM_HC_MAP_GPA_RANGE (default on)");
    object_class_property_add_bool(oc, "guest-owned", gmem_pv_get_guest_owned,
                                   gmem_pv_set_guest_owned);
    object_class_property_set_description(oc, "guest-owned",
        "only the guest shares its contents (default on)");
    object_class_property_add_bool(oc, "xsave", gmem_pv_get_xsave,
                                   gmem_pv_set_xsave);
    object_class_property_set_description(oc, "xsave",
        "leave XSAVE in the guest's CPUID (default off)");
    object_class_property_add_bool(oc, "debug-port", gmem_pv_get_debug_port,
                                   gmem_pv_set_debug_port);
    object_class_property_set_description(oc, "debug-port",
        "testing: I/O port 0x501 exits, 0x502 reports boot, probe, stats, "
        "extents, DMA probe");
    object_class_property_add_str(oc, "huge-pages", gmem_pv_get_huge_pages,
                                  gmem_pv_set_huge_pages);
    object_class_property_set_description(oc, "huge-pages",
        "2 MiB guest_memfd folios: all (default), hinted or off");
}

static void gmem_pv_guest_instance_init(Object *obj)
{
    GmemPvGuest *gp = GMEM_PV_GUEST(obj);
    ConfidentialGuestSupport *cgs = CONFIDENTIAL_GUEST_SUPPORT(obj);

    gp->service = true;
    gp->guest_owned = true;
    gp->huge_pages = g_strdup("all");
    cgs->guest_memfd_in_place = true;
}

static void gmem_pv_guest_finalize(Object *obj)
{
    g_free(GMEM_PV_GUEST(obj)->huge_pages);
}

static const TypeInfo gmem_pv_guest_info = {
    .parent = TYPE_X86_CONFIDENTIAL_GUEST,
    .name = TYPE_GMEM_PV_GUEST,
    .instance_size = sizeof(GmemPvGuest),
    .instance_init = gmem_pv_guest_instance_init,
    .instance_finalize = gmem_pv_guest_finalize,
    .class_init = gmem_pv_guest_class_init,
    .interfaces = (InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void gmem_pv_register_types(void)
{
    type_register_static(&gmem_pv_guest_info);
}

type_init(gmem_pv_register_types);
