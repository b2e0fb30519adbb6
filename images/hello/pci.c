/*
 * pci.c - configuration mechanism #1.
 */
#include "cpu.h"
#include "pci.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

static uint32_t config_address(struct pci_addr a, uint8_t off)
{
	return 0x80000000u | (uint32_t)a.bus << 16 | (uint32_t)a.dev << 11 |
	       (uint32_t)a.fn << 8 | (off & 0xfcu);
}

uint32_t pci_read32(struct pci_addr a, uint8_t off)
{
	outl(PCI_CONFIG_ADDRESS, config_address(a, off));
	return inl(PCI_CONFIG_DATA);
}

void pci_write32(struct pci_addr a, uint8_t off, uint32_t v)
{
	outl(PCI_CONFIG_ADDRESS, config_address(a, off));
	outl(PCI_CONFIG_DATA, v);
}

int pci_find(uint16_t vendor, uint16_t device, struct pci_addr *out)
{
	/* QEMU's pc puts every device on bus 0; bridges are not followed. */
	for (uint8_t dev = 0; dev < 32; dev++) {
		for (uint8_t fn = 0; fn < 8; fn++) {
			struct pci_addr a = {0, dev, fn};
			uint32_t id = pci_read32(a, 0);

			if ((id & 0xffff) == 0xffff) {
				if (fn == 0)
					break;
				continue;
			}
			if ((id & 0xffff) == vendor && id >> 16 == device) {
				*out = a;
				return 0;
			}
		}
	}
	return -1;
}
