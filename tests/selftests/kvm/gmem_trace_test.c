// SPDX-License-Identifier: GPL-2.0-only
/*
 * gmem-pv: the kvm_gmem_pv tracepoints, read back through tracefs.
 *
 * Needs kvm.gmem_in_place_conversion=1 and tracefs (mounted here at
 * /sys/kernel/tracing if it is not).  Each case clears the trace buffer,
 * enables the kvm_gmem_pv events, converts by ioctl and by hypercall, is
 * refused (an invalid range, a PRESERVE share of a guest-owned VM, a bad
 * hint, a page pinned by vmsplice) or faults with a limited mapping level
 * (a 4 KiB hint in a 2 MiB-backed file, a split memslot's mixed 2 MiB
 * frame), then reads the buffer and checks every field of what the events
 * recorded against what the test did and against KVM's stats, which count
 * at the same places.  Every case runs in each memslot layout and with
 * 4 KiB and 2 MiB guest_memfd backing (gmem_pv_util.h) where it applies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/kvm_gmem_pv_para.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "kselftest_harness.h"
#include "gmem_pv_util.h"

#define TEST_GPA	SZ_4G
#define TEST_SLOT	1
#define TEST_SIZE	SZ_4M
#define PRIV		KVM_GMEM_PV_HC_PRIVATE
#define H4K		KVM_MAP_GPA_RANGE_PAGE_SZ_4K
#define H2M		KVM_MAP_GPA_RANGE_PAGE_SZ_2M
#define HUGE		GUEST_MEMFD_FLAG_GMEM_PV_HUGE
#define ATTR_PRIVATE	KVM_MEMORY_ATTRIBUTE_PRIVATE

/* include/trace/events/kvm_gmem_pv.h */
#define BY_IOCTL	"ioctl"
#define BY_HYPERCALL	"hypercall"

/* ---- tracefs --------------------------------------------------------- */

static const char *tracefs;

static const char *tracefs_find(void)
{
	static const char *const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	char path[128];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/trace", dirs[i]);
		if (!access(path, F_OK))
			return dirs[i];
	}
	if (!mount("tracefs", dirs[0], "tracefs", 0, NULL))
		return dirs[0];
	return NULL;
}

static void tracefs_write(const char *file, const char *val)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tracefs, file);
	fd = open(path, O_WRONLY | O_TRUNC);
	TEST_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
	TEST_ASSERT(write(fd, val, strlen(val)) == (ssize_t)strlen(val),
		    "write '%s' to %s: %s", val, path, strerror(errno));
	close(fd);
}

/* A tracefs file, NUL-terminated, in a buffer the caller frees. */
static char *tracefs_read(const char *file)
{
	size_t len = 0, cap = 1 << 20;
	char path[256], *buf = malloc(cap);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tracefs, file);
	fd = open(path, O_RDONLY);
	TEST_ASSERT(fd >= 0, "open %s: %s", path, strerror(errno));
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		TEST_ASSERT(buf, "out of memory");
		n = read(fd, buf + len, cap - len - 1);
		TEST_ASSERT(n >= 0, "read %s: %s", path, strerror(errno));
		if (!n)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* Empty the buffer and record the kvm_gmem_pv events from now on. */
static void trace_start(void)
{
	tracefs_write("tracing_on", "0");
	tracefs_write("events/enable", "0");
	tracefs_write("buffer_size_kb", "4096");
	tracefs_write("trace", "");
	tracefs_write("events/kvm_gmem_pv/enable", "1");
	tracefs_write("tracing_on", "1");
}

/* One recorded event: its name and what TP_printk() made of its fields. */
struct event {
	char name[48];
	char args[224];
};

struct trace {
	struct event *ev;
	int n;
};

/* Stop recording and parse the buffer's kvm_gmem_pv events, in order. */
static void trace_stop(struct trace *t)
{
	char *buf, *line, *save;

	tracefs_write("tracing_on", "0");
	tracefs_write("events/kvm_gmem_pv/enable", "0");
	buf = tracefs_read("trace");
	t->n = 0;
	t->ev = calloc(strlen(buf) / 40 + 1, sizeof(*t->ev));
	TEST_ASSERT(t->ev, "out of memory");
	TEST_ASSERT(!strstr(buf, "LOST"), "trace buffer overran");
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(line, ": kvm_gmem_pv_"), *colon;
		struct event *e = &t->ev[t->n];

		if (!p)
			continue;
		p += 2;
		colon = strchr(p, ':');
		TEST_ASSERT(colon && colon - p < (long)sizeof(e->name),
			    "bad trace line: %s", line);
		memcpy(e->name, p, colon - p);
		e->name[colon - p] = '\0';
		snprintf(e->args, sizeof(e->args), "%s", colon + 2);
		t->n++;
	}
	free(buf);
}

static void trace_free(struct trace *t)
{
	free(t->ev);
	t->ev = NULL;
	t->n = 0;
}

/* How many events named @name, and the @i-th of them (or NULL). */
static int trace_count(struct trace *t, const char *name)
{
	int i, n = 0;

	for (i = 0; i < t->n; i++)
		n += !strcmp(t->ev[i].name, name);
	return n;
}

static struct event *trace_nth(struct trace *t, const char *name, int nth)
{
	int i;

	for (i = 0; i < t->n; i++) {
		if (!strcmp(t->ev[i].name, name) && !nth--)
			return &t->ev[i];
	}
	return NULL;
}

static void trace_dump(struct trace *t)
{
	int i;

	for (i = 0; i < t->n && i < 40; i++)
		ksft_print_msg("  %s: %s\n", t->ev[i].name, t->ev[i].args);
	if (t->n > 40)
		ksft_print_msg("  ... %d events in all\n", t->n);
}

/* The fields of each event, as include/trace/events/kvm_gmem_pv.h prints them. */
struct set_attributes {
	unsigned long ino;
	u64 offset, size, attributes, flags, error_offset;
	int ret;
};

static void parse_set_attributes(struct event *e, struct set_attributes *a)
{
	TEST_ASSERT(sscanf(e->args,
			   "ino %lu offset 0x%lx size 0x%lx attributes 0x%lx flags 0x%lx ret %d error_offset 0x%lx",
			   &a->ino, &a->offset, &a->size, &a->attributes,
			   &a->flags, &a->ret, &a->error_offset) == 7,
		    "kvm_gmem_pv_set_attributes: '%s'", e->args);
}

struct refused {
	char by[16], idname[8];
	unsigned long id;
	u64 start, size, attributes, error_offset;
	int err;
};

static void parse_refused(struct event *e, struct refused *r)
{
	TEST_ASSERT(sscanf(e->args,
			   "by %15s %7s %lu start 0x%lx size 0x%lx attributes 0x%lx err %d error_offset 0x%lx",
			   r->by, r->idname, &r->id, &r->start, &r->size,
			   &r->attributes, &r->err, &r->error_offset) == 8,
		    "kvm_gmem_pv_conversion_refused: '%s'", e->args);
}

struct map_gpa_range {
	unsigned int vcpu;
	u64 gpa, converted, left, hint, ns;
	char to[16];
	long ret;
};

static void parse_map_gpa_range(struct event *e, struct map_gpa_range *m)
{
	TEST_ASSERT(sscanf(e->args,
			   "vcpu %u gpa 0x%lx converted %lu left %lu to %15s hint %lu ret %ld %lu ns",
			   &m->vcpu, &m->gpa, &m->converted, &m->left, m->to,
			   &m->hint, &m->ret, &m->ns) == 8,
		    "kvm_gmem_pv_map_gpa_range: '%s'", e->args);
}

struct level_limited {
	u64 gfn;
	int want, allowed;
	char reason[16];
};

static void parse_level_limited(struct event *e, struct level_limited *l)
{
	TEST_ASSERT(sscanf(e->args, "gfn 0x%lx want %d allowed %d reason %15s",
			   &l->gfn, &l->want, &l->allowed, l->reason) == 4,
		    "kvm_gmem_pv_level_limited: '%s'", e->args);
}

/* ---- the VM ---------------------------------------------------------- */

/* The guest's next request: a hypercall if g_npages, then writes. */
static u64 g_gpa, g_npages, g_attrs, g_touch;

static void guest_code(void)
{
	u64 gpa, ret;

	for (;;) {
		ret = 0;
		if (g_npages)
			ret = kvm_hypercall(KVM_HC_MAP_GPA_RANGE, g_gpa, g_npages,
					    g_attrs, 0);
		for (gpa = g_gpa; gpa < g_gpa + g_touch; gpa += PAGE_SIZE)
			WRITE_ONCE(*(u64 *)gpa, gpa);
		GUEST_SYNC(ret);
	}
}

struct env {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct gmem_pv_mem m;
	unsigned long ino;
};

static void env_create(struct env *e, enum gmem_pv_layout layout,
		       u64 gmem_flags, u64 hc_flags)
{
	struct stat st;

	e->vm = vm_create_shape_with_one_vcpu(gmem_pv_protected_shape, &e->vcpu,
					      guest_code);
	gmem_pv_mem_add(e->vm, &e->m, TEST_SLOT, TEST_GPA, TEST_SIZE,
			gmem_flags, layout);
	/* Allocate the 2 MiB folios before anything fragments memory. */
	if (gmem_flags & HUGE)
		TEST_ASSERT(!fallocate(e->m.fd, FALLOC_FL_KEEP_SIZE, 0, TEST_SIZE),
			    "fallocate: %s", strerror(errno));
	virt_map_level(e->vm, TEST_GPA, TEST_GPA, TEST_SIZE, PG_LEVEL_2M);
	vm_enable_cap(e->vm, KVM_CAP_GMEM_PV_MAP_GPA_RANGE, hc_flags);
	TEST_ASSERT(!fstat(e->m.fd, &st), "fstat: %s", strerror(errno));
	e->ino = st.st_ino;
	/* Fault in what the guest needs outside the test region. */
	g_npages = 0;
	g_touch = 0;
	sync_global_to_guest(e->vm, g_npages);
	sync_global_to_guest(e->vm, g_touch);
	gmem_pv_run_to_sync(e->vcpu, 0);
}

static void env_destroy(struct env *e)
{
	gmem_pv_mem_free(&e->m);
	kvm_vm_free(e->vm);
}

/* One guest request; returns the hypercall's RAX (0 if none). */
static u64 guest_request(struct env *e, u64 gpa, u64 npages, u64 attrs,
			 u64 touch)
{
	struct ucall uc;

	g_gpa = gpa;
	g_npages = npages;
	g_attrs = attrs;
	g_touch = touch;
	sync_global_to_guest(e->vm, g_gpa);
	sync_global_to_guest(e->vm, g_npages);
	sync_global_to_guest(e->vm, g_attrs);
	sync_global_to_guest(e->vm, g_touch);
	TEST_ASSERT_EQ(gmem_pv_run_to_ucall(e->vcpu, &uc), UCALL_SYNC);
	return uc.args[1];
}

/* ---- the cases ------------------------------------------------------- */

/* Every event and the fields the documentation names, in its format file. */
TEST(formats)
{
	static const struct {
		const char *event, *fields[8];
	} want[] = {
		{ "kvm_gmem_pv_map_gpa_range",
		  { "vcpu_id", "gpa", "converted", "left", "attrs", "ret", "ns" } },
		{ "kvm_gmem_pv_set_attributes",
		  { "ino", "offset", "size", "attributes", "flags", "ret",
		    "error_offset" } },
		{ "kvm_gmem_pv_conversion_refused",
		  { "by", "id", "start", "size", "attributes", "err",
		    "error_offset" } },
		{ "kvm_gmem_pv_level_limited",
		  { "gfn", "want", "allowed", "reason" } },
	};
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(want); i++) {
		char path[128], *fmt;

		snprintf(path, sizeof(path), "events/kvm_gmem_pv/%s/format",
			 want[i].event);
		fmt = tracefs_read(path);
		for (j = 0; j < ARRAY_SIZE(want[i].fields) && want[i].fields[j]; j++) {
			char field[48];

			snprintf(field, sizeof(field), " %s;", want[i].fields[j]);
			EXPECT_NE(NULL, strstr(fmt, field))
				TH_LOG("%s: no field %s", want[i].event, want[i].fields[j]);
		}
		free(fmt);
	}
}

FIXTURE(layout) {
	struct env e;
	struct trace t;
};

FIXTURE_VARIANT(layout) {
	enum gmem_pv_layout layout;
	u64 gmem_flags;
};

GMEM_PV_LAYOUT_BACKING_VARIANTS(layout);

FIXTURE_SETUP(layout)
{
	memset(&self->t, 0, sizeof(self->t));
}

FIXTURE_TEARDOWN(layout)
{
	trace_free(&self->t);
}

#define CONV_OFF	(SZ_1M + 3 * PAGE_SIZE)
#define CONV_SIZE	(2 * PAGE_SIZE)

static void expect_set_attributes(struct __test_metadata *_metadata,
				  struct trace *t, int nth, unsigned long ino,
				  u64 offset, u64 size, u64 attributes,
				  u64 flags, int ret, u64 error_offset)
{
	struct event *ev = trace_nth(t, "kvm_gmem_pv_set_attributes", nth);
	struct set_attributes a;

	ASSERT_NE(NULL, ev) {
		trace_dump(t);
		TH_LOG("no kvm_gmem_pv_set_attributes #%d", nth);
	}
	parse_set_attributes(ev, &a);
	EXPECT_EQ(a.ino, ino);
	EXPECT_EQ(a.offset, offset);
	EXPECT_EQ(a.size, size);
	EXPECT_EQ(a.attributes, attributes);
	EXPECT_EQ(a.flags, flags);
	EXPECT_EQ(a.ret, ret);
	EXPECT_EQ(a.error_offset, error_offset);
}

static void expect_refused(struct __test_metadata *_metadata, struct trace *t,
			   int nth, const char *by, unsigned long id, u64 start,
			   u64 size, u64 attributes, int err, u64 error_offset)
{
	struct event *ev = trace_nth(t, "kvm_gmem_pv_conversion_refused", nth);
	struct refused r;

	ASSERT_NE(NULL, ev) {
		trace_dump(t);
		TH_LOG("no kvm_gmem_pv_conversion_refused #%d", nth);
	}
	parse_refused(ev, &r);
	EXPECT_STREQ(r.by, by);
	EXPECT_STREQ(r.idname, strcmp(by, BY_IOCTL) ? "vcpu" : "ino");
	EXPECT_EQ(r.id, id);
	EXPECT_EQ(r.start, start);
	EXPECT_EQ(r.size, size);
	EXPECT_EQ(r.attributes, attributes);
	EXPECT_EQ(r.err, err);
	EXPECT_EQ(r.error_offset, error_offset);
}

/*
 * KVM_SET_MEMORY_ATTRIBUTES2: a conversion each way, an invalid range, and
 * with KVM_GMEM_PV_HC_GUEST_OWNED a PRESERVE share (-EPERM) and a share
 * whose content mode KVM makes ZERO.  Refusals, and only they, are also
 * kvm_gmem_pv_conversion_refused.
 */
TEST_F(layout, ioctl_conversions)
{
	struct env *e = &self->e;
	struct trace *t = &self->t;
	unsigned long ino;

	env_create(e, variant->layout, variant->gmem_flags | GUEST_MEMFD_FLAG_INIT_SHARED,
		   KVM_GMEM_PV_HC_ENABLE | KVM_GMEM_PV_HC_GUEST_OWNED);
	ino = e->ino;

	trace_start();
	ASSERT_EQ(set_attributes2(e->m.fd, CONV_OFF, CONV_SIZE, ATTR_PRIVATE, 0), 0);
	ASSERT_EQ(set_attributes2(e->m.fd, TEST_SIZE, PAGE_SIZE, ATTR_PRIVATE, 0), -1);
	ASSERT_EQ(errno, EINVAL);
	ASSERT_EQ(set_attributes2(e->m.fd, CONV_OFF, CONV_SIZE, 0,
				  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE), -1);
	ASSERT_EQ(errno, EPERM);
	ASSERT_EQ(set_attributes2(e->m.fd, CONV_OFF, PAGE_SIZE, 0, 0), 0);
	trace_stop(t);

	ASSERT_EQ(trace_count(t, "kvm_gmem_pv_set_attributes"), 4) trace_dump(t);
	ASSERT_EQ(trace_count(t, "kvm_gmem_pv_conversion_refused"), 2) trace_dump(t);
	expect_set_attributes(_metadata, t, 0, ino, CONV_OFF, CONV_SIZE,
			      ATTR_PRIVATE, 0, 0, 0);
	expect_set_attributes(_metadata, t, 1, ino, TEST_SIZE, PAGE_SIZE,
			      ATTR_PRIVATE, 0, -EINVAL, 0);
	expect_set_attributes(_metadata, t, 2, ino, CONV_OFF, CONV_SIZE, 0,
			      KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, -EPERM, 0);
	/* Guest-owned: the share KVM did zeroed the page. */
	expect_set_attributes(_metadata, t, 3, ino, CONV_OFF, PAGE_SIZE, 0,
			      KVM_SET_MEMORY_ATTRIBUTES2_ZERO, 0, 0);
	expect_refused(_metadata, t, 0, BY_IOCTL, ino, TEST_SIZE, PAGE_SIZE,
		       ATTR_PRIVATE, -EINVAL, 0);
	expect_refused(_metadata, t, 1, BY_IOCTL, ino, CONV_OFF, CONV_SIZE, 0,
		       -EPERM, 0);
	/* Nothing else: an ioctl is not a hypercall, nothing faulted. */
	ASSERT_EQ(t->n, 6) trace_dump(t);
	ASSERT_FALSE(gmem_pv_is_private(e->m.fd, CONV_OFF));
	ASSERT_TRUE(gmem_pv_is_private(e->m.fd, CONV_OFF + PAGE_SIZE));
	env_destroy(e);
}

/*
 * The guest's KVM_HC_MAP_GPA_RANGE: a conversion with a 2 MiB hint, one
 * with a hint KVM does not know (-KVM_EINVAL), and one that runs past the
 * guest_memfd slot (-KVM_EFAULT after converting what was inside).
 */
TEST_F(layout, hypercall_conversions)
{
	const u64 gpa = TEST_GPA + SZ_2M, inside = 8;
	struct env *e = &self->e;
	struct trace *t = &self->t;
	struct map_gpa_range m;
	struct event *ev;

	env_create(e, variant->layout, variant->gmem_flags | GUEST_MEMFD_FLAG_INIT_SHARED,
		   KVM_GMEM_PV_HC_ENABLE);

	trace_start();
	ASSERT_EQ(guest_request(e, gpa, 16, PRIV | H2M, 0), 0);
	ASSERT_EQ(guest_request(e, gpa, 16, PRIV | 7, 0), (u64)-KVM_EINVAL);
	ASSERT_EQ(guest_request(e, TEST_GPA + TEST_SIZE - inside * PAGE_SIZE, 24,
				PRIV, 0), (u64)-KVM_EFAULT);
	trace_stop(t);

	ASSERT_EQ(trace_count(t, "kvm_gmem_pv_map_gpa_range"), 3) trace_dump(t);
	ev = trace_nth(t, "kvm_gmem_pv_map_gpa_range", 0);
	parse_map_gpa_range(ev, &m);
	EXPECT_EQ(m.vcpu, e->vcpu->id);
	EXPECT_EQ(m.gpa, gpa);
	EXPECT_EQ(m.converted, 16);
	EXPECT_EQ(m.left, 0);
	EXPECT_STREQ(m.to, "private");
	EXPECT_EQ(m.hint, H2M);
	EXPECT_EQ(m.ret, 0);

	parse_map_gpa_range(trace_nth(t, "kvm_gmem_pv_map_gpa_range", 1), &m);
	EXPECT_EQ(m.converted, 0);
	EXPECT_EQ(m.left, 16);
	EXPECT_EQ(m.hint, 7);
	EXPECT_EQ(m.ret, -KVM_EINVAL);

	parse_map_gpa_range(trace_nth(t, "kvm_gmem_pv_map_gpa_range", 2), &m);
	EXPECT_EQ(m.gpa, TEST_GPA + TEST_SIZE - inside * PAGE_SIZE);
	EXPECT_EQ(m.converted, inside);
	EXPECT_EQ(m.left, 24 - inside);
	EXPECT_EQ(m.ret, -KVM_EFAULT);

	ASSERT_EQ(trace_count(t, "kvm_gmem_pv_conversion_refused"), 2) trace_dump(t);
	expect_refused(_metadata, t, 0, BY_HYPERCALL, e->vcpu->id, gpa,
		       16 * PAGE_SIZE, PRIV | 7, -KVM_EINVAL, 0);
	/* Stopped at the end of the slot, with 16 pages left. */
	expect_refused(_metadata, t, 1, BY_HYPERCALL, e->vcpu->id,
		       TEST_GPA + TEST_SIZE, (24 - inside) * PAGE_SIZE, PRIV,
		       -KVM_EFAULT, 0);
	/* The hypercall is not the ioctl. */
	ASSERT_EQ(trace_count(t, "kvm_gmem_pv_set_attributes"), 0) trace_dump(t);
	ASSERT_TRUE(gmem_pv_is_private(e->m.fd, SZ_2M));
	env_destroy(e);
}

/*
 * A page the host pinned (vmsplice) cannot become private, by ioctl nor by
 * hypercall: -EAGAIN with the offset of the page, for the ioctl, and where
 * the refused step began, for the hypercall.  gmem-only: a pin needs the
 * host's mapping of the guest_memfd.
 */
FIXTURE(pin) {
	struct env e;
	struct trace t;
};

FIXTURE_VARIANT(pin) {
	enum gmem_pv_layout layout;
	u64 gmem_flags;
};

FIXTURE_VARIANT_ADD(pin, gmem_only) {
	.layout = GMEM_PV_LAYOUT_GMEM_ONLY,
};

FIXTURE_VARIANT_ADD(pin, gmem_only_2m) {
	.layout = GMEM_PV_LAYOUT_GMEM_ONLY,
	.gmem_flags = HUGE,
};

FIXTURE_SETUP(pin)
{
	memset(&self->t, 0, sizeof(self->t));
}

FIXTURE_TEARDOWN(pin)
{
	trace_free(&self->t);
}

TEST_F(pin, pinned_refused)
{
	const u64 pinned = 2 * PAGE_SIZE;
	struct env *e = &self->e;
	struct trace *t = &self->t;
	struct map_gpa_range m;
	struct iovec iov;
	char buf[PAGE_SIZE];
	int pipefd[2];
	u64 error_offset;

	env_create(e, variant->layout, variant->gmem_flags | GUEST_MEMFD_FLAG_INIT_SHARED,
		   KVM_GMEM_PV_HC_ENABLE);
	memset(e->m.gmem, 1, 4 * PAGE_SIZE);
	iov.iov_base = e->m.gmem + pinned;
	iov.iov_len = PAGE_SIZE;
	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), PAGE_SIZE);
	/* A 2 MiB folio's references are the folio's: its first page in range. */
	error_offset = variant->gmem_flags & HUGE ? 0 : pinned;

	trace_start();
	ASSERT_EQ(set_attributes2(e->m.fd, 0, 4 * PAGE_SIZE, ATTR_PRIVATE, 0), -1);
	ASSERT_EQ(errno, EAGAIN);
	ASSERT_EQ(guest_request(e, TEST_GPA, 4, PRIV, 0), (u64)-KVM_GMEM_PV_EAGAIN);
	trace_stop(t);

	expect_set_attributes(_metadata, t, 0, e->ino, 0, 4 * PAGE_SIZE,
			      ATTR_PRIVATE, 0, -EAGAIN, error_offset);
	ASSERT_EQ(trace_count(t, "kvm_gmem_pv_conversion_refused"), 2) trace_dump(t);
	expect_refused(_metadata, t, 0, BY_IOCTL, e->ino, 0, 4 * PAGE_SIZE,
		       ATTR_PRIVATE, -EAGAIN, error_offset);
	expect_refused(_metadata, t, 1, BY_HYPERCALL, e->vcpu->id, TEST_GPA,
		       4 * PAGE_SIZE, PRIV, -KVM_GMEM_PV_EAGAIN, TEST_GPA);
	ASSERT_EQ(trace_count(t, "kvm_gmem_pv_map_gpa_range"), 1) trace_dump(t);
	parse_map_gpa_range(trace_nth(t, "kvm_gmem_pv_map_gpa_range", 0), &m);
	EXPECT_EQ(m.converted, 0);
	EXPECT_EQ(m.left, 4);
	EXPECT_EQ(m.ret, -KVM_GMEM_PV_EAGAIN);
	/* KVM kept trying for 20 ms before it gave up. */
	EXPECT_GE(m.ns, 20 * 1000 * 1000ul);

	ASSERT_EQ(read(pipefd[0], buf, PAGE_SIZE), PAGE_SIZE);
	close(pipefd[0]);
	close(pipefd[1]);
	ASSERT_EQ(guest_request(e, TEST_GPA, 4, PRIV, 0), 0);
	env_destroy(e);
}

/*
 * Faults whose level gmem-pv limited, and only those.  2 MiB backing: the
 * guest hints 4 KiB for its private memory and touches it (reason hint,
 * 2 MiB wanted, 4 KiB allowed), then makes one page of the first 2 MiB
 * shared and touches private pages beside it (reason mixed).  Every
 * layout: the guest makes the second 2 MiB frame shared but one page and
 * touches the page and 255 shared pages after it: a split slot limits the
 * shared ones (split_mixed), a 2 MiB file the ones it backs (mixed), a
 * gmem-only 4 KiB slot none.  Each limited fault is one event, so the
 * events must match the stats, which count at the same places, and their
 * gfns the range the guest touched.
 */
static u64 check_limited(struct __test_metadata *_metadata, struct trace *t,
			 const char *reason, u64 first_gfn, u64 nr, int want)
{
	struct level_limited l;
	u64 n = 0;
	int i;

	for (i = 0; i < t->n; i++) {
		if (strcmp(t->ev[i].name, "kvm_gmem_pv_level_limited"))
			continue;
		parse_level_limited(&t->ev[i], &l);
		if (strcmp(l.reason, reason))
			continue;
		n++;
		EXPECT_TRUE(l.gfn >= first_gfn && l.gfn < first_gfn + nr)
			TH_LOG("%s: gfn 0x%lx outside [0x%lx, 0x%lx)", reason,
			       l.gfn, first_gfn, first_gfn + nr);
		EXPECT_EQ(l.want, want);
		EXPECT_EQ(l.allowed, PG_LEVEL_4K);
	}
	ksft_print_msg("reason %s: %lu events\n", reason, n);
	return n;
}

TEST_F(layout, limited_faults)
{
	const u64 gfn0 = TEST_GPA >> PAGE_SHIFT, nr_2m = SZ_2M / PAGE_SIZE;
	const u64 frame = TEST_GPA + SZ_2M, touched = SZ_1M / PAGE_SIZE;
	bool split = variant->layout != GMEM_PV_LAYOUT_GMEM_ONLY;
	bool huge = variant->gmem_flags & HUGE;
	struct env *e = &self->e;
	struct trace *t = &self->t;
	u64 stat, n;

	env_create(e, variant->layout, variant->gmem_flags, KVM_GMEM_PV_HC_ENABLE);

	if (huge) {
		ASSERT_EQ(vm_stat(e->vm, "gmem_pv_huge_folios"), TEST_SIZE / SZ_2M);
		trace_start();
		ASSERT_EQ(guest_request(e, TEST_GPA, TEST_SIZE / PAGE_SIZE, PRIV | H4K,
					TEST_SIZE), 0);
		trace_stop(t);
		/* One fault per page, every one limited by the hint. */
		stat = vm_stat(e->vm, "gmem_pv_hint_limited_faults");
		n = check_limited(_metadata, t, "hint", gfn0, TEST_SIZE / PAGE_SIZE,
				  PG_LEVEL_2M);
		EXPECT_EQ(stat, TEST_SIZE / PAGE_SIZE);
		EXPECT_EQ(n, stat) trace_dump(t);
		EXPECT_EQ(t->n, n + 1) trace_dump(t);	/* and the hypercall */
		trace_free(t);

		/* Back to 2 MiB hints, one page shared: the first 2 MiB is mixed. */
		ASSERT_EQ(guest_request(e, TEST_GPA, TEST_SIZE / PAGE_SIZE, PRIV | H2M,
					0), 0);
		trace_start();
		ASSERT_EQ(guest_request(e, TEST_GPA + PAGE_SIZE, 1, H2M, 0), 0);
		ASSERT_EQ(guest_request(e, TEST_GPA + SZ_1M, touched, PRIV | H2M,
					SZ_1M), 0);
		trace_stop(t);
		stat = vm_stat(e->vm, "gmem_pv_mixed_limited_faults");
		n = check_limited(_metadata, t, "mixed", gfn0, nr_2m, PG_LEVEL_2M);
		EXPECT_EQ(stat, touched);
		EXPECT_EQ(n, stat) trace_dump(t);
		EXPECT_EQ(check_limited(_metadata, t, "hint", 0, 0, 0), 0);
		trace_free(t);
	}

	/* The second 2 MiB frame: shared but one page. */
	ASSERT_EQ(guest_request(e, frame, nr_2m, H2M, 0), 0);
	stat = vm_stat(e->vm, "gmem_pv_mixed_limited_faults");
	trace_start();
	ASSERT_EQ(guest_request(e, frame + SZ_1M, 1, PRIV | H2M, SZ_1M), 0);
	trace_stop(t);
	stat = vm_stat(e->vm, "gmem_pv_mixed_limited_faults") - stat;
	/* A split slot's shared frames are the alias's, not the file's. */
	EXPECT_EQ(stat, huge ? (split ? 1 : touched) : 0);
	EXPECT_EQ(check_limited(_metadata, t, "mixed", frame >> PAGE_SHIFT, nr_2m,
				PG_LEVEL_2M), stat);
	EXPECT_EQ(check_limited(_metadata, t, "split_mixed", frame >> PAGE_SHIFT,
				nr_2m, PG_LEVEL_2M), split ? touched - 1 : 0);
	EXPECT_EQ(check_limited(_metadata, t, "split_align", 0, 0, 0), 0);
	EXPECT_EQ(check_limited(_metadata, t, "split_1g", 0, 0, 0), 0);
	EXPECT_EQ(check_limited(_metadata, t, "hint", 0, 0, 0), 0);
	env_destroy(e);
}

int main(int argc, char **argv)
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES) &
		     KVM_MEMORY_ATTRIBUTE_PRIVATE);

	tracefs = tracefs_find();
	TEST_ASSERT(tracefs, "no tracefs: the kernel needs CONFIG_EVENT_TRACING");
	return test_harness_run(argc, argv);
}
