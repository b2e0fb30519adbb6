/*
 * virtio_pci.c - the legacy virtio-pci transport (I/O BAR 0).
 *
 * QEMU's virtio-net-pci on a conventional PCI bus (machine pc) is
 * transitional: it keeps the legacy register block in I/O space, which
 * needs neither PCI capabilities parsing nor 64-bit BARs.
 */
#include "cpu.h"
#include "pci.h"
#include "virtio.h"

#define VIRTIO_PCI_VENDOR 0x1af4

/*
 * Where to put BAR 0 if the firmware left it unassigned: inside the PCI
 * I/O window QEMU's pc decodes, above the legacy ISA ports.
 */
#define FALLBACK_IO_BASE 0xc000u

enum {
	REG_HOST_FEATURES = 0x00,
	REG_GUEST_FEATURES = 0x04,
	REG_QUEUE_PFN = 0x08,
	REG_QUEUE_SIZE = 0x0c,	/* 16 bits */
	REG_QUEUE_SEL = 0x0e,	/* 16 bits */
	REG_QUEUE_NOTIFY = 0x10,	/* 16 bits */
	REG_STATUS = 0x12,	/* 8 bits */
	REG_CONFIG = 0x14,	/* device config, without MSI-X enabled */
};

static uint16_t port(struct virtio_dev *d, unsigned reg)
{
	return (uint16_t)(d->base + reg);
}

static uint32_t pci_get_features(struct virtio_dev *d, unsigned word)
{
	return word == 0 ? inl(port(d, REG_HOST_FEATURES)) : 0;
}

static void pci_set_features(struct virtio_dev *d, unsigned word, uint32_t bits)
{
	if (word == 0)
		outl(port(d, REG_GUEST_FEATURES), bits);
}

static uint8_t pci_get_status(struct virtio_dev *d)
{
	return inb(port(d, REG_STATUS));
}

static void pci_set_status(struct virtio_dev *d, uint8_t status)
{
	outb(port(d, REG_STATUS), status);
}

static uint8_t pci_config_read8(struct virtio_dev *d, unsigned off)
{
	return inb(port(d, REG_CONFIG + off));
}

static int pci_queue_setup(struct virtio_dev *d, struct virtq *q)
{
	uint16_t size;

	outw(port(d, REG_QUEUE_SEL), q->index);
	size = inw(port(d, REG_QUEUE_SIZE));
	/* A legacy device fixes the size; the ring arithmetic needs 2^n. */
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -1;
	q->size = size;
	virtq_layout(q);
	outl(port(d, REG_QUEUE_PFN), (uint32_t)(uintptr_t)q->mem >> 12);
	return 0;
}

static void pci_notify(struct virtio_dev *d, struct virtq *q)
{
	outw(port(d, REG_QUEUE_NOTIFY), q->index);
}

static const struct virtio_ops pci_ops = {
	.get_features = pci_get_features,
	.set_features = pci_set_features,
	.get_status = pci_get_status,
	.set_status = pci_set_status,
	.config_read8 = pci_config_read8,
	.queue_setup = pci_queue_setup,
	.notify = pci_notify,
};

int virtio_pci_find(uint16_t pci_device, struct virtio_dev *d)
{
	struct pci_addr a;
	uint32_t bar, cmd;

	if (pci_find(VIRTIO_PCI_VENDOR, pci_device, &a) < 0)
		return -1;
	bar = pci_read32(a, PCI_BAR0);
	if (!(bar & 1))
		return -1;	/* not an I/O BAR: a modern-only device */
	if ((bar & ~3u) == 0) {
		pci_write32(a, PCI_BAR0, FALLBACK_IO_BASE);
		bar = pci_read32(a, PCI_BAR0);
	}
	cmd = pci_read32(a, PCI_COMMAND) & 0xffff;
	pci_write32(a, PCI_COMMAND, cmd | PCI_COMMAND_IO | PCI_COMMAND_MASTER);

	d->ops = &pci_ops;
	d->base = bar & 0xfffcu;
	d->modern = 0;
	d->transport = "virtio-pci legacy";
	pci_set_status(d, 0);	/* reset */
	return 0;
}
