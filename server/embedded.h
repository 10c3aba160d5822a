/* Data compiled into the binary at build time by scripts/embed.py. */
#ifndef CARTELLA_EMBEDDED_H
#define CARTELLA_EMBEDDED_H

#include <stddef.h>

struct embedded_migration {
	int version;      /* NNN of schema/NNN_name.sql */
	const char *name; /* name part of the file name */
	const char *sql;  /* the whole file */
};

extern const char embedded_openapi_yaml[];
extern const struct embedded_migration embedded_migrations[];
extern const size_t embedded_migrations_count;

#endif
