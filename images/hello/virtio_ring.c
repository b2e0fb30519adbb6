/*
 * virtio_ring.c - split virtqueues and feature negotiation, common to
 * both transports.
 */
#include "cpu.h"
#include "kstring.h"
#include "virtio.h"

void virtq_layout(struct virtq *q)
{
	uintptr_t base = (uintptr_t)q->mem;
	uintptr_t avail = base + 16u * q->size;
	uintptr_t used = (avail + 6u + 2u * q->size + 4095u) & ~(uintptr_t)4095u;

	memset(q->mem, 0, VIRTQ_MEM_SIZE);
	q->desc = (struct virtq_desc *)base;
	q->avail = (volatile struct virtq_avail *)avail;
	q->used = (volatile struct virtq_used *)used;
	q->last_used = 0;
}

void virtq_push(struct virtq *q, uint16_t head)
{
	uint16_t idx = q->avail->idx;

	q->avail->ring[idx & (q->size - 1)] = head;
	/* The device may read the entry as soon as it sees the new index. */
	compiler_barrier();
	q->avail->idx = (uint16_t)(idx + 1);
}

int virtq_pop(struct virtq *q, uint16_t *id, uint32_t *len)
{
	volatile struct virtq_used_elem *e;

	if (q->used->idx == q->last_used)
		return 0;
	/* Read the element only after seeing the index that covers it. */
	compiler_barrier();
	e = &q->used->ring[q->last_used & (q->size - 1)];
	*id = (uint16_t)e->id;
	*len = e->len;
	q->last_used++;
	return 1;
}

uint32_t virtio_negotiate(struct virtio_dev *d, uint32_t want, int *failed)
{
	const struct virtio_ops *ops = d->ops;
	uint32_t low = ops->get_features(d, 0) & want;
	uint32_t high = ops->get_features(d, 1) & (1u << (VIRTIO_F_VERSION_1 - 32));

	*failed = 0;
	ops->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	ops->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	d->modern = high != 0;
	ops->set_features(d, 0, low);
	if (d->modern) {
		ops->set_features(d, 1, high);
		ops->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				       VIRTIO_STATUS_FEATURES_OK);
		if (!(ops->get_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
			ops->set_status(d, VIRTIO_STATUS_FAILED);
			*failed = 1;
		}
	}
	return low;
}
