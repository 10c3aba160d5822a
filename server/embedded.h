/* Data compiled into the binary at build time by scripts/embed.py. */
#ifndef CARTELLA_EMBEDDED_H
#define CARTELLA_EMBEDDED_H

#include <stddef.h>

struct embedded_migration {
	int version;      /* NNN of schema/NNN_name.sql */
	const char *name; /* name part of the file name */
	const char *sql;  /* the whole file */
};

/* A code list: schema/codes/<name>.csv (header code,label_it[,more...]). */
struct embedded_code_list {
	const char *name; /* file name without .csv, kebab-case */
	const char *csv;  /* the whole file, UTF-8 */
};

extern const char embedded_openapi_yaml[];
extern const struct embedded_migration embedded_migrations[];
extern const size_t embedded_migrations_count;
extern const struct embedded_code_list embedded_code_lists[];
extern const size_t embedded_code_lists_count;

#endif
