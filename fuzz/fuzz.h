/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - shared by the libFuzzer harnesses: a byte reader over the input
 * and the failure macro. Each harness drives one piece of the library
 * against a simple reference model and aborts on any disagreement.
 */
#ifndef FC_FUZZ_H
#define FC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fz_take(struct fz *z, unsigned bytes)
{
	uint64_t v = 0;

	while (bytes-- && z->n) {
		v = v << 8 | *z->p++;
		z->n--;
	}
	return v;
}

#define FZ_CHECK(cond)                                                         \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: model disagrees: %s\n",        \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
