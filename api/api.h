/* The API handlers, one file per resource, and the route table that names
 * each handler's policy action. */
#ifndef CARTELLA_API_H
#define CARTELLA_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/router.h"

struct http_req;

/* The route table (static storage) and its length. */
const struct route *api_routes(size_t *n);

/* ops.c */
int api_status(struct http_req *req);
int api_metrics(struct http_req *req);
int api_openapi(struct http_req *req);

/* sessions.c */
int api_session_create(struct http_req *req);
int api_session_read(struct http_req *req);
int api_session_delete(struct http_req *req);

/* users.c */
int api_user_list(struct http_req *req);
int api_user_create(struct http_req *req);
int api_user_read(struct http_req *req);
int api_user_update(struct http_req *req);
int api_user_totp_reset(struct http_req *req);

/* totp.c */
int api_totp_enrol(struct http_req *req);
int api_totp_confirm(struct http_req *req);

/* clients.c */
int api_client_list(struct http_req *req);
int api_client_create(struct http_req *req);
int api_client_read(struct http_req *req);
int api_client_update(struct http_req *req);

/* audit.c */
int api_audit_event_list(struct http_req *req);
int api_audit_verify(struct http_req *req);

/* break_glass.c */
int api_case_break_glass(struct http_req *req);
int api_break_glass_review_list(struct http_req *req);
int api_break_glass_review_read(struct http_req *req);
int api_break_glass_review_resolve(struct http_req *req);

/* persons.c */
int api_person_list(struct http_req *req);
int api_person_create(struct http_req *req);
int api_person_read(struct http_req *req);
int api_person_update(struct http_req *req);
int api_person_history(struct http_req *req);
int api_person_restriction_put(struct http_req *req);
int api_person_restriction_delete(struct http_req *req);

/* erasure.c: erasure (GDPR art. 17) */
int api_person_erasure(struct http_req *req);

/* retention.c: retention rules per document class */
int api_retention_rule_list(struct http_req *req);
int api_retention_rule_put(struct http_req *req);

/* legal_holds.c */
int api_legal_hold_list(struct http_req *req);
int api_legal_hold_create(struct http_req *req);
int api_legal_hold_read(struct http_req *req);
int api_legal_hold_release(struct http_req *req);
/* persons.c, shared: person id of the caller's tenant as GET shows it
 * (*out a new reference; NULL when not found or not visible). Returns a
 * db_rc or CRYPT_INTEGRITY. */
int api_person_export(struct http_req *req, const char *id, json_t **out);

/* person_history.c, shared: person id's rectification history, newest first, as
 * GET /history shows its items (*items a new reference). Returns a db_rc or
 * CRYPT_INTEGRITY. */
int api_person_history_items(struct http_req *req, const char *id, json_t **items);

/* interventions.c */
int api_intervention_list(struct http_req *req);
int api_intervention_create(struct http_req *req);
int api_intervention_read(struct http_req *req);
int api_intervention_update(struct http_req *req);

/* waas_routes.c: the INPS WaaS e-service and the SIUSS batch file */
int api_waas_flows(struct http_req *req);
int api_waas_outcomes(struct http_req *req);
int api_siuss_batch(struct http_req *req);
/* GET /api/v1/reports/data-quality (api/data_quality.c). */
int api_report_data_quality(struct http_req *req);
/* Checks ?from= and ?to= of the SIUSS batch (dates, from <= to): 0, or
 * replies 400 and returns 1. */
int api_siuss_batch_params(struct http_req *req);

/* households.c */
int api_household_list(struct http_req *req);
int api_household_create(struct http_req *req);
int api_household_read(struct http_req *req);
int api_household_update(struct http_req *req);
int api_household_member_list(struct http_req *req);
int api_household_member_create(struct http_req *req);
int api_household_member_read(struct http_req *req);
int api_household_member_update(struct http_req *req);

/* isee.c */
int api_isee_list(struct http_req *req);
int api_isee_create(struct http_req *req);
int api_isee_read(struct http_req *req);

/* lookup.c: whether household id (any text) exists in the
 * caller's tenant. Returns a db_rc. */
int api_household_lookup(struct http_req *req, const char *id, bool *found);

/* lookup.c: whether person id (any text) exists in the caller's
 * tenant and, when birth_date is not NULL, their decrypted birth date
 * (arena-owned, NULL when unknown). Returns a db_rc or CRYPT_INTEGRITY. */
int api_person_lookup(struct http_req *req, const char *id, bool *found, const char **birth_date);

/* common.c: replies 403 for a property of the body the caller's role may
 * not set: detail (borrowed), errors [{field, "forbidden", message}]. */
int api_reply_forbidden_field(struct http_req *req, const char *field, const char *message,
                              const char *detail);

/* lookup.c: replies 404 for an id of a body or filter that
 * names nothing in the tenant: detail and errors [{field, "not_found"}]. */
int api_reply_not_found_field(struct http_req *req, const char *field);

/* lookup.c: splits a keyset cursor "YYYY-MM-DD_<uuid>" into a
 * date and an id (arena-owned; both NULL when cursor is NULL). Returns 0, or
 * replies 400 and returns 1. */
int api_cursor_date_id(struct http_req *req, const char *cursor, const char **date,
                       const char **id);

/* isee.c, shared: the latest ISEE of household_id by DSU date (*out a new
 * reference, NULL when none). Returns a db_rc. */
int api_isee_latest(struct http_req *req, const char *household_id, json_t **out);

/* catalogue.c: code lists and the local service catalogue */
int api_catalogue_index(struct http_req *req);
int api_catalogue_read(struct http_req *req);
int api_service_list(struct http_req *req);
int api_service_create(struct http_req *req);
int api_service_read(struct http_req *req);
int api_service_update(struct http_req *req);

/* tenants.c */
int api_tenant_list(struct http_req *req);
int api_tenant_read(struct http_req *req);
int api_tenant_update(struct http_req *req);

/* providers.c */
int api_provider_list(struct http_req *req);
int api_provider_create(struct http_req *req);
int api_provider_read(struct http_req *req);
int api_provider_update(struct http_req *req);

/* catalogue.c, shared: the ?cursor= of a list decoded from base64url (an
 * arena-owned string of at most max bytes), NULL when absent; *bad is set
 * when it is malformed. */
const char *api_cursor_decode(struct http_req *req, size_t max, bool *bad);

/* catalogue.c, shared: s (borrowed) encoded as an opaque cursor, a new JSON
 * string (NULL on OOM). */
struct arena;
json_t *api_cursor_encode(struct arena *a, const char *s);

/* catalogue.c, shared: checks that code is a code in force in the code list
 * list (e.g. "inps-prestazioni"); if not, appends {field, "unknown", ...} to
 * errors. Returns DB_OK or a db_rc (nothing appended then). */
int api_code_check(struct http_req *req, json_t *errors, const char *field, const char *list,
                   const char *code);

/* cases.c: the cartella and its life cycle */
int api_case_list(struct http_req *req);
int api_case_create(struct http_req *req);
int api_case_read(struct http_req *req);
int api_case_update(struct http_req *req);

/* case_assignments.c */
int api_case_assignment_list(struct http_req *req);
int api_case_assignment_create(struct http_req *req);
int api_case_assignment_read(struct http_req *req);
int api_case_assignment_update(struct http_req *req);

/* case_notes.c: the diary */
int api_case_note_list(struct http_req *req);
int api_case_note_create(struct http_req *req);
int api_case_note_read(struct http_req *req);

/* assessments.c: generic, SINA and SINBA assessments */
int api_case_assessment_list(struct http_req *req);
int api_case_assessment_create(struct http_req *req);
int api_case_assessment_read(struct http_req *req);

/* assessment_annotations.c: annotations of an assessment (GDPR art. 16) */
int api_assessment_annotation_create(struct http_req *req);

/* Sets o["annotations"] to the annotations of assessment assessment_id,
 * oldest first, their text only when with_body. Borrows everything.
 * Returns a db_rc or CRYPT_INTEGRITY. */
int api_assessment_annotations_attach(struct http_req *req, const char *assessment_id,
                                      bool with_body, json_t *o);

/* plans.c: care plans with outcome and follow-up */
int api_case_plan_list(struct http_req *req);
int api_case_plan_create(struct http_req *req);
int api_case_plan_read(struct http_req *req);
int api_case_plan_update(struct http_req *req);

/* access_contacts.c: segretariato sociale */
int api_access_contact_list(struct http_req *req);
int api_access_contact_create(struct http_req *req);
int api_access_contact_read(struct http_req *req);

/* expenditures.c: spending that is not one beneficiary's */
int api_expenditure_list(struct http_req *req);
int api_expenditure_create(struct http_req *req);
int api_expenditure_read(struct http_req *req);
int api_expenditure_update(struct http_req *req);

/* expenditures.c, shared: true when y (may be NULL) is a four-digit year
 * 2000-2100. */
bool api_year_ok(const char *y);

/* expenditures.c, shared: reads ?year= (2000-2100) into out (size >= 8; ""
 * when absent and not required). Returns 0, or replies 400 and returns 1. */
int api_year_param(struct http_req *req, bool required, char *out, size_t outsz);

/* population.c: residents by Comune, year, sex and age band */
int api_population_read(struct http_req *req);
int api_population_replace(struct http_req *req);

/* population.c, shared: resolves the {tenant} (code) and {year} of a path
 * like /population/{tenant}/{year}: *tenant_id (arena-owned) is the caller's
 * tenant or one of its member Comuni, year (size >= 8) its text. An Ambito
 * is refused (400) unless allow_ambito. Returns 0, or 1 after replying (400
 * bad year, 404 out of scope, an error), or HTTP_RETRY. */
int api_tenant_year_target(struct http_req *req, bool allow_ambito, const char **tenant_id,
                           char *year, size_t yearsz);

/* reports.c: the reporting flows (aggregates only) */
int api_report_regional_spending(struct http_req *req);

/* report_istat.c */
int api_report_istat_survey(struct http_req *req);

/* report_indicators.c */
int api_report_indicators(struct http_req *req);

/* extracts.c: pseudonymised extracts for the planning office */
int api_extract_run(struct http_req *req);

/* staffing.c: social workers per Comune and year (FTE) */
int api_staffing_read(struct http_req *req);
int api_staffing_replace(struct http_req *req);

/* job_routes.c: jobs, and reports started as jobs */
int api_job_read(struct http_req *req);
int api_job_result(struct http_req *req);
int api_job_release(struct http_req *req);
int api_report_job_regional_spending(struct http_req *req);
int api_report_job_istat_survey(struct http_req *req);
int api_report_job_indicators(struct http_req *req);
int api_report_job_siuss_batch(struct http_req *req);

/* subject_access.c: GDPR art. 15 and the items withheld from it */
int api_subject_access_start(struct http_req *req);
int api_note_withholding_put(struct http_req *req);
int api_note_withholding_delete(struct http_req *req);
int api_assessment_withholding_put(struct http_req *req);
int api_assessment_withholding_delete(struct http_req *req);

/* Shared by handlers: the role names of a bit set as a JSON array (new ref). */
json_t *api_roles_json(unsigned roles);

/* Shared by handlers: reads arr (borrowed), an array of names, into a bit
 * set with lookup (0 for an unknown name), appending to errors a rule
 * "enum" (with enum_msg) or "unique" naming "<field>[i]". */
uint32_t api_names_to_bits(json_t *arr, const char *field, uint32_t (*lookup)(const char *),
                           const char *enum_msg, json_t *errors);

/* Loads the one row st returns for params (params[0] the caller's tenant,
 * the rest ids taken from the request, which must be UUIDs) into *out
 * (arena-owned). Returns 0; 1 after replying 404 (no such row, or not a
 * UUID) or a database error; HTTP_RETRY. */
struct db_stmt;
typedef struct pg_result PGresult;
int api_load_row(struct http_req *req, const struct db_stmt *st, int n, const char *const *params,
                 PGresult **out);

/* Validates an address object {line, postal_code?, istat_code?} (persons and
 * households share it); returns its compact JSON text (arena-owned) or NULL
 * with errors (named "address.<field>") added. */
const char *api_address_parse(struct http_req *req, json_t *v, json_t *errors);

/* Replies 400 "corpo JSON obbligatorio" when the request has no JSON object
 * body; returns 1 then, else 0. */
int api_require_body(struct http_req *req);

#endif
