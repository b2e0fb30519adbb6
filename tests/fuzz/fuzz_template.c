/*
 * fuzz_template.c - libFuzzer target: template expansion and metadata
 * insertion on any template text.  The output must be bounded, and no
 * value may come out unescaped.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vm.h"
#include "src/vm/vm_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const char *const names[] = { "name", "kernel", "cmdline",
	    "mac" };
	static const char *const values[] = { "summon-x-1", "/k<&>\"'",
	    "ip=${ip} <evil/>", "52:54:00:00:00:01" };
	static const struct vm_owner owner = { "0123abcd", "ff00" };
	char err[256], *tmpl, *xml, *full;

	if (len > 65536 || (tmpl = malloc(len + 1)) == NULL)
		return 0;
	memcpy(tmpl, data, len);
	tmpl[len] = '\0';
	xml = vm_template_expand(tmpl, names, values, 4, err, sizeof(err));
	if (xml != NULL) {
		/* The hostile value never appears raw. */
		if (strstr(xml, "<evil/>") != NULL && strstr(tmpl, "<evil/>") ==
		    NULL)
			abort();
		full = vm_add_metadata(xml, NULL, "x", 1, err, sizeof(err));
		free(full);
		full = vm_add_metadata(xml, &owner, "x", 1, err, sizeof(err));
		free(full);
		free(xml);
	}
	free(tmpl);
	return 0;
}
