/* Schema migrations: the numbered files of schema/, compiled in, applied in
 * order, each in its own transaction, recorded in schema_migration. */
#ifndef CARTELLA_MIGRATE_H
#define CARTELLA_MIGRATE_H

/* The newest schema version this binary carries. */
int migrate_latest(void);

/* Applies what is missing to the database at url (the owner role).
 * Returns 0 (done or nothing to do), 1 on error, 2 when the database was
 * migrated by a newer binary. Progress goes to stdout, errors to stderr. */
int migrate_run(const char *url);

#endif
