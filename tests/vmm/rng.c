// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-vmm: virtio-rng (entropy device) fed from getrandom().
 */
#include <sys/random.h>

#include <linux/virtio_ids.h>

#include "virtio.h"

static struct virtio_dev rng;

static void rng_notify(struct virtio_dev *dev, int q)
{
	static struct vq_elem e;
	struct virtqueue *vq = &dev->vq[q];
	uint8_t buf[4096];
	bool any = false;
	uint64_t bad;
	uint32_t len;
	int i;

	while (vq_pop(dev, vq, &e) > 0) {
		len = 0;
		for (i = 0; i < e.nr; i++) {
			struct vq_seg *s = &e.seg[i];
			uint32_t n = s->len < sizeof(buf) ? s->len : sizeof(buf);

			if (!s->write)
				continue;
			if (getrandom(buf, n, 0) != (ssize_t)n)
				break;
			if (gm_write(s->gpa, buf, n, &bad)) {
				virtio_request_fault(dev, bad, "an entropy buffer");
				len = 0;
				break;
			}
			len += n;
		}
		if (vq_push(dev, vq, e.head, len))
			return;
		any = true;
	}
	if (any && !dev->broken)
		virtio_interrupt(dev);
}

void rng_create(void)
{
	rng.name = "virtio-rng";
	rng.device_id = VIRTIO_ID_RNG;
	rng.nr_queues = 1;
	rng.notify = rng_notify;
	virtio_register(&rng);
}
