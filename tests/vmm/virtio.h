/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gmem-vmm: virtio-mmio transport (version 2) and split virtqueues, for the
 * device models.  Every access to guest memory goes through gm_read() and
 * gm_write(); an access that hits a private page is a device fault (ring)
 * or a failed request (data buffer).
 */
#ifndef GMEM_VMM_VIRTIO_H
#define GMEM_VMM_VIRTIO_H

#include <sys/uio.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "vmm.h"

#define VQ_MAX_SIZE	256
#define VQ_MAX_SEGS	(VQ_MAX_SIZE + 2)

struct virtqueue {
	uint32_t num;
	uint32_t ready;
	uint64_t desc, avail, used;
	uint16_t last_avail;
	uint16_t used_idx;
};

/* One buffer chain popped from a queue: guest-physical segments. */
struct vq_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;		/* device writes (VRING_DESC_F_WRITE) */
};

struct vq_elem {
	uint16_t head;
	int nr;
	struct vq_seg seg[VQ_MAX_SEGS];
};

struct virtio_dev {
	const char *name;
	uint32_t device_id;
	int irq;
	uint64_t base;
	uint64_t features;		/* offered */
	uint64_t driver_features;
	uint32_t dev_features_sel, drv_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t isr;
	uint32_t config_generation;
	int nr_queues;
	struct virtqueue vq[2];
	void *config;			/* device config space */
	uint32_t config_len;
	bool broken;			/* device fault: stopped until reset */
	pthread_mutex_t lock;
	/* Called with lock held on QUEUE_NOTIFY. */
	void (*notify)(struct virtio_dev *dev, int q);
	void (*reset)(struct virtio_dev *dev);
};

void virtio_register(struct virtio_dev *dev);
int vq_pop(struct virtio_dev *dev, struct virtqueue *vq, struct vq_elem *e);
int vq_push(struct virtio_dev *dev, struct virtqueue *vq, uint16_t head,
	    uint32_t len);
void virtio_interrupt(struct virtio_dev *dev);
void virtio_device_fault(struct virtio_dev *dev, uint64_t gpa, const char *what);
void virtio_request_fault(struct virtio_dev *dev, uint64_t gpa, const char *what);

#endif /* GMEM_VMM_VIRTIO_H */
