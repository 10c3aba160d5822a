/* Helpers shared by the case-record resources: cases.c, case_assignments.c,
 * case_notes.c, assessments.c, plans.c and access_contacts.c. Everything
 * returned is owned by the request arena unless said otherwise. */
#ifndef CARTELLA_CASE_COMMON_H
#define CARTELLA_CASE_COMMON_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct http_req;

/* SQL expressions giving a date and a timestamptz column as wire text. */
#define API_DATE(col) "to_char(" col ", 'YYYY-MM-DD')"
#define API_TS(col)   "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The facts of a case the sub-resources need (strings arena-owned). */
struct api_case_ref {
	const char *id;
	const char *person_id;
	const char *status;
	const char *opened_on;
	int32_t opened_days;
};

/* Loads case id of the caller's tenant into *out. Returns 0 when found; 1
 * after replying 404 (unknown, not a UUID, another tenant's) or an error;
 * HTTP_RETRY when the transaction must run again. Handlers answer
 * `rc == HTTP_RETRY ? HTTP_RETRY : 0` on a non-zero return. */
int api_case_find(struct http_req *req, const char *id, struct api_case_ref *out);

/* Checks that row id exists in table (one of "person", "household",
 * "social_case") of the caller's tenant. Returns 0 when it does; 1 after
 * replying 404 naming field; HTTP_RETRY. */
int api_case_check_ref(struct http_req *req, const char *table, const char *id, const char *field);

/* Today (UTC) as days since 1970-01-01. */
int32_t api_case_today(void);

/* Today (UTC) as "YYYY-MM-DD" into out. */
void api_case_today_text(char out[11]);

/* Validates an RFC 3339 full-date s for field: on success sets *days and
 * returns true; otherwise adds an error and returns false. not_future adds
 * the rule that s is not after today. */
bool api_case_date(json_t *errors, const char *field, const char *s, bool not_future,
                   int32_t *days);

/* Coded values to check against the code lists, collected while parsing and
 * checked by one query: a JSON array of [field, list, code] (caller owns). */
void api_codes_add(json_t *pending, const char *field, const char *list, const char *code);

/* Adds an error {field, "unknown", ...} for every pending code that is not
 * in force in its list. Returns a db_rc. */
int api_codes_verify(struct http_req *req, json_t *pending, json_t *errors);

/* Encrypts plain for (table, column, row) in the caller's tenant: *out is the
 * hex bytea text to bind. Returns a db_rc. */
int api_case_encrypt(struct http_req *req, const char *table, const char *column,
                     const char *row_id, const char *plain, const char **out);

/* Decrypts column col of row i of r for (table, column, row_id); *out is NULL
 * for SQL NULL. Returns DB_OK, a db_rc or CRYPT_INTEGRITY. */
int api_case_decrypt(struct http_req *req, const char *table, const char *column,
                     const char *row_id, PGresult *r, int i, int col, const char **out);

/* Replies for a failed helper call: 500 for CRYPT_INTEGRITY, else as
 * http_reply_db_error. Returns what the handler returns. */
int api_case_fail(struct http_req *req, int rc);

/* A nullable text column as a JSON value (new reference). */
json_t *api_case_opt(PGresult *r, int i, int col);

/* Registers json to be released with the request. Returns 0 or -1. */
int api_case_keep(struct http_req *req, json_t *json);

/* True when the principal is assigned to case case_id today (any role in
 * the case). *assigned receives it; returns a db_rc. */
int api_case_is_assigned(struct http_req *req, const char *case_id, bool *assigned);

/* Replies 409 naming the case's status for work that needs an open case. */
int api_case_closed_conflict(struct http_req *req);

/* Renders row i of a page (decrypting what it must): a new reference, or
 * NULL with *rc set to a db_rc or CRYPT_INTEGRITY. */
typedef json_t *(*api_row_json_fn)(struct http_req *req, PGresult *r, int i, int *rc);

/* Replies 200 with {items, next_cursor} from the rows of r, fetched with
 * LIMIT limit + 1: the first limit rows rendered by row_json, and when there
 * are more, the next cursor is column id_col of the last row shown. With
 * audit_type, each row shown is registered as an audited object of that
 * type. Returns what the handler returns. */
int api_case_reply_page(struct http_req *req, PGresult *r, int limit, int id_col,
                        const char *audit_type, api_row_json_fn row_json);

/* The cursor of ?cursor=: NULL when absent; replies 400 and returns 1 when
 * it is not a UUID. */
int api_case_cursor(struct http_req *req, const char **cursor);

#endif
