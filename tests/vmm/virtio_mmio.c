// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-vmm: the virtio-mmio transport, version 2 (virtio 1.x), and split
 * virtqueues.  Devices offer VIRTIO_F_VERSION_1 and
 * VIRTIO_F_ACCESS_PLATFORM: the latter makes the guest use the DMA API,
 * which a protected guest needs to bounce through shared memory.
 *
 * Device-fault policy: if a device cannot read or write a virtqueue ring
 * (the guest put it in private memory, as a guest without the gmem-pv
 * driver does), the VMM logs the GPA, sets DEVICE_NEEDS_RESET, raises the
 * config interrupt and ends with VMM_EXIT_DEVICE_FAULT (or, with
 * --device-fault=reset, leaves the device stopped until the guest resets
 * it).  A data buffer in private memory only fails that request.
 */
#include <stdio.h>
#include <string.h>

#include "virtio.h"

void virtio_register(struct virtio_dev *dev)
{
	if (vm.nr_devs == MAX_VIRTIO_DEVS)
		die("too many virtio devices");
	dev->base = VIRTIO_MMIO_BASE + vm.nr_devs * VIRTIO_MMIO_SIZE;
	dev->irq = VIRTIO_IRQ_BASE + vm.nr_devs;
	dev->features |= 1ULL << VIRTIO_F_VERSION_1;
	dev->features |= 1ULL << VIRTIO_F_ACCESS_PLATFORM;
	pthread_mutex_init(&dev->lock, NULL);
	vm.devs[vm.nr_devs++] = dev;
}

/* The devices, for the kernel command line. */
int virtio_cmdline(char *buf, size_t len)
{
	int i, n = 0;

	for (i = 0; i < vm.nr_devs; i++)
		n += snprintf(buf + n, len - n, " virtio_mmio.device=4K@%#llx:%d",
			      (unsigned long long)vm.devs[i]->base, vm.devs[i]->irq);
	return n;
}

void virtio_interrupt(struct virtio_dev *dev)
{
	dev->isr |= VIRTIO_MMIO_INT_VRING;
	irq_pulse(dev->irq);
}

void virtio_device_fault(struct virtio_dev *dev, uint64_t gpa, const char *what)
{
	vmm_log("%s: device fault: cannot access %s at GPA %#llx: the page is private, not shared with the host (guest without the gmem-pv driver?); device needs reset",
		dev->name, what, (unsigned long long)gpa);
	dev->broken = true;
	dev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	dev->isr |= VIRTIO_MMIO_INT_CONFIG;
	irq_pulse(dev->irq);
	if (!vm.continue_on_fault) {
		pthread_mutex_unlock(&dev->lock);
		vmm_exit(VMM_EXIT_DEVICE_FAULT, "device fault");
	}
}

void virtio_request_fault(struct virtio_dev *dev, uint64_t gpa, const char *what)
{
	vmm_log("%s: request failed: cannot access %s at GPA %#llx: the page is private, not shared with the host",
		dev->name, what, (unsigned long long)gpa);
}

static int ring_read(struct virtio_dev *dev, uint64_t gpa, void *buf,
		     size_t len, const char *what)
{
	uint64_t bad;

	if (!gm_read(gpa, buf, len, &bad))
		return 0;
	virtio_device_fault(dev, bad, what);
	return -1;
}

/*
 * Pop the next available chain.  Returns 1 with @e filled, 0 if the queue
 * is empty, -1 after a device fault.
 */
int vq_pop(struct virtio_dev *dev, struct virtqueue *vq, struct vq_elem *e)
{
	struct vring_desc d;
	uint16_t idx, head, i;
	int n = 0;

	if (dev->broken || !vq->ready)
		return -1;
	if (ring_read(dev, vq->avail + 2, &idx, 2, "the available ring"))
		return -1;
	if (idx == vq->last_avail)
		return 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (ring_read(dev, vq->avail + 4 + 2 * (vq->last_avail % vq->num),
		      &head, 2, "the available ring"))
		return -1;
	vq->last_avail++;
	e->head = head;
	i = head;
	for (;;) {
		if (i >= vq->num || n >= VQ_MAX_SEGS) {
			vmm_log("%s: malformed descriptor chain (head %u)",
				dev->name, head);
			dev->broken = true;
			dev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
			return -1;
		}
		if (ring_read(dev, vq->desc + 16 * i, &d, sizeof(d),
			      "the descriptor table"))
			return -1;
		e->seg[n].gpa = d.addr;
		e->seg[n].len = d.len;
		e->seg[n].write = d.flags & VRING_DESC_F_WRITE;
		n++;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		i = d.next;
	}
	e->nr = n;
	return 1;
}

int vq_push(struct virtio_dev *dev, struct virtqueue *vq, uint16_t head,
	    uint32_t len)
{
	struct vring_used_elem u = { .id = head, .len = len };
	uint64_t bad;
	uint16_t idx;

	if (gm_write(vq->used + 4 + 8 * (vq->used_idx % vq->num), &u, sizeof(u),
		     &bad)) {
		virtio_device_fault(dev, bad, "the used ring");
		return -1;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	idx = ++vq->used_idx;
	if (gm_write(vq->used + 2, &idx, 2, &bad)) {
		virtio_device_fault(dev, bad, "the used ring");
		return -1;
	}
	return 0;
}

static void dev_reset(struct virtio_dev *dev)
{
	dev->status = 0;
	dev->isr = 0;
	dev->driver_features = 0;
	dev->queue_sel = 0;
	dev->broken = false;
	memset(dev->vq, 0, sizeof(dev->vq));
	if (dev->reset)
		dev->reset(dev);
}

static uint32_t reg_read(struct virtio_dev *dev, uint32_t off)
{
	struct virtqueue *vq = dev->queue_sel < (uint32_t)dev->nr_queues ?
			       &dev->vq[dev->queue_sel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return 0x74726976;		/* "virt" */
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return 0x554d4551;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return dev->dev_features_sel > 1 ? 0 :
		       dev->features >> (32 * dev->dev_features_sel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? VQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return dev->isr;
	case VIRTIO_MMIO_STATUS:
		return dev->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffff;		/* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return dev->config_generation;
	}
	return 0;
}

static void set_addr(uint64_t *a, bool high, uint32_t val)
{
	if (high)
		*a = (*a & 0xffffffffULL) | ((uint64_t)val << 32);
	else
		*a = (*a & ~0xffffffffULL) | val;
}

static void reg_write(struct virtio_dev *dev, uint32_t off, uint32_t val)
{
	struct virtqueue *vq = dev->queue_sel < (uint32_t)dev->nr_queues ?
			       &dev->vq[dev->queue_sel] : NULL;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		dev->dev_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		dev->drv_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (dev->drv_features_sel < 2) {
			int sh = 32 * dev->drv_features_sel;

			dev->driver_features &= ~(0xffffffffULL << sh);
			dev->driver_features |= ((uint64_t)val << sh) & dev->features;
		}
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		dev->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (vq && val && val <= VQ_MAX_SIZE && !(val & (val - 1)))
			vq->num = val;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (vq)
			vq->ready = val & 1;
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (val < (uint32_t)dev->nr_queues && dev->vq[val].ready &&
		    (dev->status & VIRTIO_CONFIG_S_DRIVER_OK) && !dev->broken)
			dev->notify(dev, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		dev->isr &= ~val;
		break;
	case VIRTIO_MMIO_STATUS:
		if (!val) {
			dev_reset(dev);
			break;
		}
		if ((val & VIRTIO_CONFIG_S_FEATURES_OK) &&
		    !(dev->driver_features & (1ULL << VIRTIO_F_VERSION_1)))
			val &= ~VIRTIO_CONFIG_S_FEATURES_OK;
		dev->status = val | (dev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (vq)
			set_addr(&vq->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (vq)
			set_addr(&vq->avail, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (vq)
			set_addr(&vq->used, off == VIRTIO_MMIO_QUEUE_USED_HIGH, val);
		break;
	}
}

/* An MMIO exit.  Returns false if @addr belongs to no device. */
bool virtio_mmio_access(uint64_t addr, bool write, uint8_t *data, int len)
{
	struct virtio_dev *dev = NULL;
	uint32_t off, val = 0;
	int i;

	for (i = 0; i < vm.nr_devs; i++)
		if (addr >= vm.devs[i]->base &&
		    addr < vm.devs[i]->base + VIRTIO_MMIO_SIZE)
			dev = vm.devs[i];
	if (!dev)
		return false;
	off = addr - dev->base;

	pthread_mutex_lock(&dev->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		off -= VIRTIO_MMIO_CONFIG;
		if (!write && off < dev->config_len && len <= 8 &&
		    off + len <= dev->config_len)
			memcpy(data, (uint8_t *)dev->config + off, len);
		else if (!write)
			memset(data, 0, len);
	} else if (len == 4) {
		if (write) {
			memcpy(&val, data, 4);
			reg_write(dev, off, val);
		} else {
			val = reg_read(dev, off);
			memcpy(data, &val, 4);
		}
	} else if (!write) {
		memset(data, 0, len);
	}
	pthread_mutex_unlock(&dev->lock);
	return true;
}
