/*
 * virtio_net.c - virtio-net over either transport.
 *
 * Buffers are statically paired with descriptors (descriptor i always
 * points at buffer i), so a used-ring id names its buffer directly and no
 * descriptor chains are needed: the virtio-net header and the frame share
 * one buffer.
 */
#include "kstring.h"
#include "virtio.h"
#include "virtio_net.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_PCI_DEVICE_NET 0x1000
#define VIRTIO_NET_F_MAC 5

#define NET_BUF_SIZE 2048
#define RX_BUFS 128
#define TX_BUFS 64
#define RX_BUDGET 64		/* frames per poll, so timers still run */
#define ETH_FRAME_MIN 60

enum { RXQ, TXQ };

static struct virtio_dev dev;
static struct virtq queues[2];
static uint8_t queue_mem[2][VIRTQ_MEM_SIZE] __attribute__((aligned(4096)));
static uint8_t rx_bufs[RX_BUFS][NET_BUF_SIZE];
static uint8_t tx_bufs[TX_BUFS][NET_BUF_SIZE];
static uint16_t tx_free[TX_BUFS];
static unsigned tx_nfree;
static size_t hdr_len;		/* struct virtio_net_hdr: 10, or 12 when modern */
static uint8_t mac[6];

const uint8_t *virtio_net_mac(void)
{
	return mac;
}

const char *virtio_net_transport(void)
{
	return dev.transport;
}

static int setup_queues(void)
{
	struct virtq *rx = &queues[RXQ], *tx = &queues[TXQ];
	unsigned nrx;

	for (unsigned i = 0; i < 2; i++) {
		queues[i].index = (uint16_t)i;
		queues[i].mem = queue_mem[i];
		if (dev.ops->queue_setup(&dev, &queues[i]) < 0)
			return -1;
	}

	nrx = rx->size < RX_BUFS ? rx->size : RX_BUFS;
	for (uint16_t i = 0; i < nrx; i++) {
		rx->desc[i].addr = (uintptr_t)rx_bufs[i];
		rx->desc[i].len = NET_BUF_SIZE;
		rx->desc[i].flags = VIRTQ_DESC_F_WRITE;
		virtq_push(rx, i);
	}

	tx_nfree = tx->size < TX_BUFS ? tx->size : TX_BUFS;
	for (uint16_t i = 0; i < tx_nfree; i++)
		tx_free[i] = i;
	return 0;
}

int virtio_net_init(const char **err)
{
	uint32_t features;
	int failed;

	if (virtio_pci_find(VIRTIO_PCI_DEVICE_NET, &dev) < 0 &&
	    virtio_mmio_find(VIRTIO_ID_NET, &dev) < 0) {
		*err = "no virtio-net device (legacy virtio-pci or virtio-mmio)";
		return -1;
	}
	features = virtio_negotiate(&dev, 1u << VIRTIO_NET_F_MAC, &failed);
	if (failed) {
		*err = "virtio-net rejected our features";
		return -1;
	}
	hdr_len = dev.modern ? 12 : 10;
	if (features & (1u << VIRTIO_NET_F_MAC)) {
		for (unsigned i = 0; i < 6; i++)
			mac[i] = dev.ops->config_read8(&dev, i);
	} else {
		/* Locally administered unicast, as QEMU's own default prefix. */
		static const uint8_t fallback[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

		memcpy(mac, fallback, sizeof(mac));
	}
	if (setup_queues() < 0) {
		dev.ops->set_status(&dev, VIRTIO_STATUS_FAILED);
		*err = "virtio-net queue setup failed";
		return -1;
	}
	dev.ops->set_status(&dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					  (dev.modern ? VIRTIO_STATUS_FEATURES_OK : 0) |
					  VIRTIO_STATUS_DRIVER_OK);
	dev.ops->notify(&dev, &queues[RXQ]);
	return 0;
}

static void reclaim_tx(void)
{
	uint16_t id;
	uint32_t len;

	while (virtq_pop(&queues[TXQ], &id, &len))
		tx_free[tx_nfree++] = id;
}

unsigned virtio_net_poll(void (*rx)(uint8_t *frame, size_t len))
{
	struct virtq *q = &queues[RXQ];
	unsigned n = 0;
	uint16_t id;
	uint32_t len;

	reclaim_tx();
	while (n < RX_BUDGET && virtq_pop(q, &id, &len)) {
		if (len > hdr_len && len <= NET_BUF_SIZE)
			rx(rx_bufs[id] + hdr_len, len - hdr_len);
		virtq_push(q, id);
		n++;
	}
	if (n)
		dev.ops->notify(&dev, q);
	return n;
}

int virtio_net_send(const void *frame, size_t len)
{
	struct virtq *q = &queues[TXQ];
	uint16_t id;
	uint8_t *buf;

	if (len > ETH_FRAME_MAX)
		return -1;
	if (tx_nfree == 0)
		reclaim_tx();
	if (tx_nfree == 0)
		return -1;
	id = tx_free[--tx_nfree];
	buf = tx_bufs[id];
	/* All-zero header: no checksum offload, no segmentation. */
	memset(buf, 0, hdr_len);
	memcpy(buf + hdr_len, frame, len);
	/* Pad runts to the Ethernet minimum, as a hardware NIC would. */
	if (len < ETH_FRAME_MIN) {
		memset(buf + hdr_len + len, 0, ETH_FRAME_MIN - len);
		len = ETH_FRAME_MIN;
	}
	q->desc[id].addr = (uintptr_t)buf;
	q->desc[id].len = (uint32_t)(hdr_len + len);
	q->desc[id].flags = 0;
	virtq_push(q, id);
	dev.ops->notify(&dev, q);
	return 0;
}
