/* Subject access (GDPR art. 15): what subject_access.c, its HTML page and
 * the withholding routes share. */
#ifndef CARTELLA_SUBJECT_ACCESS_H
#define CARTELLA_SUBJECT_ACCESS_H

#include <jansson.h>
#include <stddef.h>

struct arena;

/* The Italian label of a withholding basis (schema/019_jobs.sql:
 * case_note.withheld_basis), static; basis itself when unknown. */
const char *sa_basis_label(const char *basis);

/* The export doc (borrowed) as one HTML page with Italian headings
 * (arena-owned, *len bytes), every value escaped; NULL on OOM. */
const char *sa_html(struct arena *a, json_t *doc, size_t *len);

#endif
