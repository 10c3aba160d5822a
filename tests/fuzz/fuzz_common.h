/* What the libFuzzer targets of tests/fuzz share: a check that aborts (so
 * libFuzzer records the input as a crash), a quiet process setup and the
 * principal the request targets act as. */
#ifndef CARTELLA_FUZZ_COMMON_H
#define CARTELLA_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct http_principal;

/* The entry points libFuzzer calls (defined by each target). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of a target: on a breach, say which and abort. */
#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Loads the configuration (defaults and environment) with no database and
 * logs only errors. Aborts when the configuration is invalid. */
void fuzz_quiet_setup(void);

/* Fills *p (caller-owned) with an authenticated staff principal of a fixed
 * tenant holding every role. */
void fuzz_principal(struct http_principal *p);

/* Reads the whole file at path into a malloc'd NUL-terminated buffer
 * (caller frees), or NULL. */
char *fuzz_read_file(const char *path, size_t *len);

#endif
