/*
 * virtio_mmio.c - the virtio-mmio transport, versions 1 (legacy) and 2.
 *
 * QEMU's microvm places its virtio-mmio transports at 0xfeb00000, 512
 * bytes apart, and describes them only on the Linux command line, which a
 * Multiboot kernel does not get: so we probe every slot for the magic.
 * QEMU exposes version 1 unless told -global virtio-mmio.force-legacy=off;
 * both are handled.
 */
#include "cpu.h"
#include "virtio.h"

#define MMIO_BASE 0xfeb00000u
#define MMIO_SLOT_SIZE 0x200u
#define MMIO_SLOTS 32u
#define MMIO_MAGIC 0x74726976u	/* "virt" */

enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_GUEST_PAGE_SIZE = 0x028,	/* v1 */
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_ALIGN = 0x03c,	/* v1 */
	REG_QUEUE_PFN = 0x040,		/* v1 */
	REG_QUEUE_READY = 0x044,	/* v2 */
	REG_QUEUE_NOTIFY = 0x050,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,	/* v2, and the five below */
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_CONFIG = 0x100,
};

static uint32_t rd(struct virtio_dev *d, uint32_t reg)
{
	return mmio_read32(d->base + reg);
}

static void wr(struct virtio_dev *d, uint32_t reg, uint32_t v)
{
	mmio_write32(d->base + reg, v);
}

static uint32_t mmio_get_features(struct virtio_dev *d, unsigned word)
{
	wr(d, REG_DEVICE_FEATURES_SEL, word);
	return rd(d, REG_DEVICE_FEATURES);
}

static void mmio_set_features(struct virtio_dev *d, unsigned word, uint32_t bits)
{
	wr(d, REG_DRIVER_FEATURES_SEL, word);
	wr(d, REG_DRIVER_FEATURES, bits);
}

static uint8_t mmio_get_status(struct virtio_dev *d)
{
	return (uint8_t)rd(d, REG_STATUS);
}

static void mmio_set_status(struct virtio_dev *d, uint8_t status)
{
	wr(d, REG_STATUS, status);
}

static uint8_t mmio_config_read8(struct virtio_dev *d, unsigned off)
{
	return mmio_read8(d->base + REG_CONFIG + off);
}

static int mmio_queue_setup(struct virtio_dev *d, struct virtq *q)
{
	uint32_t max, addr;

	wr(d, REG_QUEUE_SEL, q->index);
	max = rd(d, REG_QUEUE_NUM_MAX);
	if (max == 0)
		return -1;
	q->size = max < VIRTQ_MAX_SIZE ? (uint16_t)max : VIRTQ_MAX_SIZE;
	virtq_layout(q);
	wr(d, REG_QUEUE_NUM, q->size);
	if (!d->modern) {
		wr(d, REG_QUEUE_ALIGN, 4096);
		wr(d, REG_QUEUE_PFN, (uint32_t)(uintptr_t)q->mem >> 12);
		return 0;
	}
	addr = (uint32_t)(uintptr_t)q->desc;
	wr(d, REG_QUEUE_DESC_LOW, addr);
	wr(d, REG_QUEUE_DESC_HIGH, 0);
	addr = (uint32_t)(uintptr_t)q->avail;
	wr(d, REG_QUEUE_DRIVER_LOW, addr);
	wr(d, REG_QUEUE_DRIVER_HIGH, 0);
	addr = (uint32_t)(uintptr_t)q->used;
	wr(d, REG_QUEUE_DEVICE_LOW, addr);
	wr(d, REG_QUEUE_DEVICE_HIGH, 0);
	wr(d, REG_QUEUE_READY, 1);
	return 0;
}

static void mmio_notify(struct virtio_dev *d, struct virtq *q)
{
	wr(d, REG_QUEUE_NOTIFY, q->index);
}

static const struct virtio_ops mmio_ops = {
	.get_features = mmio_get_features,
	.set_features = mmio_set_features,
	.get_status = mmio_get_status,
	.set_status = mmio_set_status,
	.config_read8 = mmio_config_read8,
	.queue_setup = mmio_queue_setup,
	.notify = mmio_notify,
};

int virtio_mmio_find(uint32_t device_id, struct virtio_dev *d)
{
	for (uint32_t slot = 0; slot < MMIO_SLOTS; slot++) {
		uintptr_t base = MMIO_BASE + slot * MMIO_SLOT_SIZE;
		uint32_t version;

		if (mmio_read32(base + REG_MAGIC) != MMIO_MAGIC)
			continue;
		version = mmio_read32(base + REG_VERSION);
		if ((version != 1 && version != 2) ||
		    mmio_read32(base + REG_DEVICE_ID) != device_id)
			continue;
		d->ops = &mmio_ops;
		d->base = base;
		d->modern = 0;
		d->transport = version == 1 ? "virtio-mmio v1" : "virtio-mmio v2";
		wr(d, REG_STATUS, 0);	/* reset */
		if (version == 1)
			wr(d, REG_GUEST_PAGE_SIZE, 4096);
		return 0;
	}
	return -1;
}
