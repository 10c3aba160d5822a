/* The key lifecycle (DESIGN §5.4, docs/operations.md "Keys"): loading and
 * checking the key-encryption keys at start, and `cartella keys`. */
#ifndef CARTELLA_KEYS_H
#define CARTELLA_KEYS_H

#include <stddef.h>

/* Loads the KEK (CARTELLA_KEK_FILE) and, during a KEK swap, the previous
 * one (CARTELLA_KEK_PREVIOUS_FILE), then checks that every tenant key row
 * unwraps with one of them (keys_check). Every command that uses keys calls
 * it before anything else; the database must be configured. Returns 0, or
 * -1 with the reason (naming the problem, never key bytes) in err. */
int keys_open(char *err, size_t errn);

/* Checks that every tenant_key row of every tenant unwraps with a loaded
 * KEK, in the current transaction (its tenant context is cleared after) or
 * in one of its own that is rolled back. Returns 0, or -1 with the first
 * problem in err. */
int keys_check(char *err, size_t errn);

/* cartella keys status|rotate-kek|rotate-data-key|reencrypt ...: argv
 * after "keys". Returns the exit status (0 done, 1 failed, 2 usage). */
int keys_cli(int argc, char **argv);

#endif
