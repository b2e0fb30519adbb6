/*
 * virtio_net.h - a polled virtio-net driver: one receive and one transmit
 * queue, no offloads, frames of at most 1514 bytes.
 */
#ifndef HELLO_VIRTIO_NET_H
#define HELLO_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#define ETH_FRAME_MAX 1514	/* without the FCS, which the device adds */

/*
 * Finds the NIC (legacy virtio-pci first, then the virtio-mmio slots),
 * sets it up and posts the receive buffers.  Returns 0, or -1 with *err
 * set to a static message.
 */
int virtio_net_init(const char **err);

/* The NIC's MAC address (6 bytes) and a name of its transport. */
const uint8_t *virtio_net_mac(void);
const char *virtio_net_transport(void);

/*
 * Hands each received frame to rx (frame and len valid only during the
 * call; rx may send), gives the buffers back to the device and reclaims
 * finished transmissions.  Returns the number of frames received.
 */
unsigned virtio_net_poll(void (*rx)(uint8_t *frame, size_t len));

/*
 * Copies one Ethernet frame (destination MAC first, len <= ETH_FRAME_MAX)
 * into a transmit buffer and kicks the device.  Returns 0, or -1 if every
 * transmit buffer is still in flight (the frame is dropped).
 */
int virtio_net_send(const void *frame, size_t len);

#endif
