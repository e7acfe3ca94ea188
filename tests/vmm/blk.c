// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-vmm: virtio-blk backed by a file: read, write, flush, get-id.
 * Requests are served synchronously in the vCPU thread that notified.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "virtio.h"

#define SECTOR_SIZE	512
#define CHUNK		65536

static struct blk {
	struct virtio_dev dev;
	struct virtio_blk_config config;
	int fd;
	uint64_t size;
	uint64_t bytes_read, bytes_written, requests, failed;
	uint8_t buf[CHUNK];
} blk;

/* Move one data segment between the file at *pos and guest memory. */
static int blk_segment(struct blk *b, uint32_t type, struct vq_seg *s,
		       uint64_t *pos)
{
	uint32_t done = 0;
	uint64_t bad;

	while (done < s->len) {
		uint32_t n = s->len - done < CHUNK ? s->len - done : CHUNK;

		if (*pos + n > b->size)
			return VIRTIO_BLK_S_IOERR;
		if (type == VIRTIO_BLK_T_IN) {
			if (!s->write)
				return VIRTIO_BLK_S_IOERR;
			if (pread(b->fd, b->buf, n, *pos) != n)
				return VIRTIO_BLK_S_IOERR;
			if (gm_write(s->gpa + done, b->buf, n, &bad)) {
				virtio_request_fault(&b->dev, bad, "a read buffer");
				return VIRTIO_BLK_S_IOERR;
			}
			b->bytes_read += n;
		} else {
			if (s->write)
				return VIRTIO_BLK_S_IOERR;
			if (gm_read(s->gpa + done, b->buf, n, &bad)) {
				virtio_request_fault(&b->dev, bad, "a write buffer");
				return VIRTIO_BLK_S_IOERR;
			}
			if (pwrite(b->fd, b->buf, n, *pos) != n)
				return VIRTIO_BLK_S_IOERR;
			b->bytes_written += n;
		}
		done += n;
		*pos += n;
	}
	return VIRTIO_BLK_S_OK;
}

/* Serve one request; returns the bytes written to the guest, or -1. */
static int blk_request(struct blk *b, struct vq_elem *e)
{
	struct virtio_blk_outhdr hdr;
	struct vq_seg *st;
	uint8_t status = VIRTIO_BLK_S_OK;
	uint64_t pos, bad;
	uint32_t written = 0;
	int i;

	if (e->nr < 2 || e->seg[0].len < sizeof(hdr) || e->seg[0].write) {
		vmm_log("%s: malformed request", b->dev.name);
		return 0;
	}
	st = &e->seg[e->nr - 1];
	if (!st->write || !st->len)
		return 0;
	if (gm_read(e->seg[0].gpa, &hdr, sizeof(hdr), &bad)) {
		virtio_request_fault(&b->dev, bad, "a request header");
		status = VIRTIO_BLK_S_IOERR;
		goto out;
	}
	b->requests++;
	pos = hdr.sector * SECTOR_SIZE;
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		for (i = 1; i < e->nr - 1 && status == VIRTIO_BLK_S_OK; i++) {
			status = blk_segment(b, hdr.type, &e->seg[i], &pos);
			if (hdr.type == VIRTIO_BLK_T_IN)
				written += e->seg[i].len;
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (fdatasync(b->fd))
			status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES] = "gmem-vmm-blk";

		if (e->nr < 3 || !e->seg[1].write) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
		if (gm_write(e->seg[1].gpa, id,
			     e->seg[1].len < sizeof(id) ? e->seg[1].len : sizeof(id),
			     &bad)) {
			virtio_request_fault(&b->dev, bad, "an id buffer");
			status = VIRTIO_BLK_S_IOERR;
		}
		break;
	}
	default:
		status = VIRTIO_BLK_S_UNSUPP;
	}
out:
	if (status != VIRTIO_BLK_S_OK)
		b->failed++;
	if (gm_write(st->gpa + st->len - 1, &status, 1, &bad)) {
		virtio_device_fault(&b->dev, bad, "a request status byte");
		return -1;
	}
	return written + 1;
}

static void blk_notify(struct virtio_dev *dev, int q)
{
	static struct vq_elem e;
	struct virtqueue *vq = &dev->vq[q];
	bool any = false;
	int len;

	while (vq_pop(dev, vq, &e) > 0) {
		len = blk_request(&blk, &e);
		if (len < 0 || vq_push(dev, vq, e.head, len))
			return;
		any = true;
	}
	if (any && !dev->broken)
		virtio_interrupt(dev);
}

void blk_create(const char *path)
{
	struct stat st;

	blk.fd = open(path, O_RDWR);
	if (blk.fd < 0 || fstat(blk.fd, &st))
		die("disk %s: %m", path);
	blk.size = st.st_size & ~(uint64_t)(SECTOR_SIZE - 1);
	blk.config.capacity = blk.size / SECTOR_SIZE;
	blk.config.seg_max = VQ_MAX_SIZE - 2;
	blk.dev.name = "virtio-blk";
	blk.dev.device_id = VIRTIO_ID_BLOCK;
	blk.dev.features = (1ULL << VIRTIO_BLK_F_FLUSH) |
			   (1ULL << VIRTIO_BLK_F_SEG_MAX);
	blk.dev.nr_queues = 1;
	blk.dev.config = &blk.config;
	blk.dev.config_len = sizeof(blk.config);
	blk.dev.notify = blk_notify;
	virtio_register(&blk.dev);
}

void blk_report(void)
{
	if (blk.dev.name)
		vmm_log("BLK requests=%llu failed=%llu read_bytes=%llu written_bytes=%llu",
			(unsigned long long)blk.requests,
			(unsigned long long)blk.failed,
			(unsigned long long)blk.bytes_read,
			(unsigned long long)blk.bytes_written);
}
