/* What the person handlers share (api/persons.c, api/persons_list.c): the
 * columns a person is read with, how a row becomes its wire form (decrypted),
 * and the blind indexes of names and fiscal codes. */
#ifndef CARTELLA_API_PERSONS_ROW_H
#define CARTELLA_API_PERSONS_ROW_H

#include "server/http.h"

#include <jansson.h>
#include <libpq-fe.h>

struct arena;

/* The encrypted columns, in the order of PERSON_COLUMNS below. */
enum person_enc_col {
	PC_FISCAL,
	PC_SURNAME,
	PC_GIVEN,
	PC_BIRTH_DATE,
	PC_BIRTH_PLACE,
	PC_ADDRESS,
	PC_CONTACTS,
	PC__COUNT
};
/* The column names of the encrypted columns, for associated data. */
extern const char *const person_enc_column[PC__COUNT];

#define PERSON_COLUMNS                                                                             \
	"id, version, fiscal_code_enc, surname_enc, given_name_enc, birth_date_enc, "              \
	"birth_place_enc, address_enc, contacts_enc, fiscal_code_kind, sex, citizenship, "         \
	"residence_istat, sealed, restricted, "                                                    \
	"to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "               \
	"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
enum {
	PERSON_COL_ID,
	PERSON_COL_VERSION,
	PERSON_COL_ENC0,
	PERSON_COL_KIND = PERSON_COL_ENC0 + PC__COUNT,
	PERSON_COL_SEX,
	PERSON_COL_CITIZENSHIP,
	PERSON_COL_RESIDENCE,
	PERSON_COL_SEALED,
	PERSON_COL_RESTRICTED,
	PERSON_COL_CREATED,
	PERSON_COL_UPDATED
};

/* The normalised name (validate_name_normalise), arena-owned. */
char *person_name_normalise(struct arena *a, const char *s);

/* Replies 500 for a value that does not decrypt (logged by crypt). */
int person_integrity(struct http_req *req);

/* The wire representation of row of r (read with PERSON_COLUMNS),
 * decrypted; a new reference, or NULL with the failure (a db_rc or
 * CRYPT_INTEGRITY) in *rc. */
json_t *person_json(struct http_req *req, PGresult *r, int row, int *rc);

/* Blind indexes (arena-owned, in *out) of "SURNAME|GIVEN NAME", of a surname
 * and of a normalised fiscal code, with the caller's tenant key. Return a
 * db_rc. */
int person_name_index(struct http_req *req, const char *surname, const char *given,
                      const char **out);
int person_surname_index(struct http_req *req, const char *surname, const char **out);
int person_fiscal_index(struct http_req *req, const char *cf, const char **out);

#endif
