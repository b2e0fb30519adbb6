/*
 * virtio.h - virtio transports (MMIO and legacy PCI) and split virtqueues.
 *
 * A driver sees one struct virtio_dev whatever the transport; the
 * transport-specific parts sit behind struct virtio_ops.  Queues use the
 * split ring layout of virtio 1.x section 2.7, which legacy devices share
 * (with the used ring on its own 4 KiB page).
 */
#ifndef HELLO_VIRTIO_H
#define HELLO_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_FAILED 128

#define VIRTIO_F_ANY_LAYOUT 27	/* legacy only */
#define VIRTIO_F_VERSION_1 32

#define VIRTQ_DESC_F_WRITE 2

/* The largest queue we allocate memory for; QEMU's default is 256. */
#define VIRTQ_MAX_SIZE 256

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[VIRTQ_MAX_SIZE];
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[VIRTQ_MAX_SIZE];
};

/*
 * Backing memory of one queue of up to VIRTQ_MAX_SIZE entries, laid out as
 * legacy devices compute it from a page frame number alone: descriptors,
 * then the available ring, then the used ring on the next 4 KiB boundary.
 */
#define VIRTQ_MEM_SIZE (3 * 4096)

struct virtq {
	struct virtq_desc *desc;
	volatile struct virtq_avail *avail;
	volatile struct virtq_used *used;
	uint8_t *mem;		/* VIRTQ_MEM_SIZE bytes, 4 KiB aligned */
	uint16_t size;		/* entries, a power of two <= VIRTQ_MAX_SIZE */
	uint16_t last_used;	/* next used-ring index we have not consumed */
	uint16_t index;		/* queue number on the device */
};

/* Points q's rings into q->mem for q->size entries and clears them. */
void virtq_layout(struct virtq *q);

struct virtio_dev;

struct virtio_ops {
	/* 32 feature bits starting at bit 32 * word. */
	uint32_t (*get_features)(struct virtio_dev *d, unsigned word);
	void (*set_features)(struct virtio_dev *d, unsigned word, uint32_t bits);
	uint8_t (*get_status)(struct virtio_dev *d);
	void (*set_status)(struct virtio_dev *d, uint8_t status);
	uint8_t (*config_read8)(struct virtio_dev *d, unsigned off);
	/*
	 * Sets q->size (no larger than VIRTQ_MAX_SIZE), lays the rings out
	 * in q->mem and tells the device where they are.  Returns 0, or -1 if
	 * the queue is missing or the device insists on a size we cannot
	 * hold.
	 */
	int (*queue_setup)(struct virtio_dev *d, struct virtq *q);
	void (*notify)(struct virtio_dev *d, struct virtq *q);
};

struct virtio_dev {
	const struct virtio_ops *ops;
	uintptr_t base;		/* MMIO address or I/O port base */
	int modern;		/* VIRTIO_F_VERSION_1 negotiated */
	const char *transport;	/* for the boot log */
};

/*
 * Finds the first virtio device of type device_id (1 = network) on the
 * microvm MMIO slots, and resets it.  Returns 0 and fills *d, or -1.
 */
int virtio_mmio_find(uint32_t device_id, struct virtio_dev *d);

/*
 * Finds the first legacy (transitional) virtio-pci device with PCI device
 * id pci_device (0x1000 = network), enables its I/O BAR and bus
 * mastering, and resets it.  Returns 0 and fills *d, or -1.
 */
int virtio_pci_find(uint16_t pci_device, struct virtio_dev *d);

/*
 * Negotiates features: accepts those of want (a bit mask over bits 0-31)
 * that the device offers, plus VIRTIO_F_VERSION_1 when offered.  Leaves
 * the device in ACKNOWLEDGE|DRIVER(|FEATURES_OK).  Returns the accepted
 * low 32 bits, or sets *failed on a device that rejects them.
 */
uint32_t virtio_negotiate(struct virtio_dev *d, uint32_t want, int *failed);

/* Puts a descriptor chain head on the available ring (no notify). */
void virtq_push(struct virtq *q, uint16_t head);

/*
 * Takes the next entry off the used ring: returns 1 and fills *id and
 * *len, or 0 when the device has returned nothing new.
 */
int virtq_pop(struct virtq *q, uint16_t *id, uint32_t *len);

#endif
