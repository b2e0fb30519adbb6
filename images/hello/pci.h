/*
 * pci.h - PCI configuration space through the legacy 0xcf8/0xcfc ports.
 */
#ifndef HELLO_PCI_H
#define HELLO_PCI_H

#include <stdint.h>

struct pci_addr {
	uint8_t bus, dev, fn;
};

uint32_t pci_read32(struct pci_addr a, uint8_t off);
void pci_write32(struct pci_addr a, uint8_t off, uint32_t v);

/*
 * Finds the first function on bus 0 with the given vendor and device ids.
 * Returns 0 and fills *out, or -1.  On a machine without PCI (microvm)
 * every read returns all ones and nothing is found.
 */
int pci_find(uint16_t vendor, uint16_t device, struct pci_addr *out);

#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO (1u << 0)
#define PCI_COMMAND_MASTER (1u << 2)
#define PCI_BAR0 0x10

#endif
