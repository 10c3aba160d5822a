#include "api/demo.h"
#include "api/demo_scale.h"
#include "api/validate.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "auth/users.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEMO_USER "cartella.demo"

static const char *const surnames[] = {
    "Rossi",    "Russo",  "Ferrari",  "Esposito", "Bianchi",  "Romano",  "Colombo", "Ricci",
    "Marino",   "Greco",  "Bruno",    "Gallo",    "Conti",    "De Luca", "Mancini", "Costa",
    "Giordano", "Rizzo",  "Lombardi", "Moretti",  "Barbieri", "Fontana", "Santoro", "Mariani",
    "Rinaldi",  "Caruso", "Ferrara",  "Galli",    "Martini",  "Leone",   "Longo",   "Gentile",
};
static const char *const male[] = {"Giuseppe",  "Giovanni", "Antonio",  "Mario",  "Luigi",
                                   "Francesco", "Angelo",   "Vincenzo", "Pietro", "Salvatore",
                                   "Carlo",     "Franco",   "Luca",     "Marco",  "Andrea"};
static const char *const female[] = {"Maria",     "Anna",   "Giuseppina", "Rosa",    "Angela",
                                     "Giovanna",  "Teresa", "Lucia",      "Carmela", "Caterina",
                                     "Francesca", "Chiara", "Giulia",     "Sara",    "Elena"};
static const char *const places[] = {"F205", "D045", "B240", "C565", "L219",
                                     "H501", "F839", "A662", "G273", "Z129"};
static const char *const streets[] = {"Via Roma",  "Via Garibaldi", "Via Mazzini", "Via Verdi",
                                      "Via Dante", "Corso Italia",  "Via Cavour",  "Via Matteotti"};

/* A small deterministic generator: the same demo every time. */
static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}
#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

/* State of one load: the arena, who acts, what failed. */
struct demo {
	struct arena *a;
	struct http_principal who;
	int failures;
	int calls;
};

/* Calls the API in process; returns the parsed body (arena-owned) when the
 * answer has the expected status, else prints the problem and returns NULL. */
static json_t *demo_call(struct demo *d, int expect, const char *method, json_t *body,
                         const char *if_match, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static json_t *demo_call(struct demo *d, int expect, const char *method, json_t *body,
                         const char *if_match, const char *fmt, ...)
{
	char path[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	char etag[32] = "";
	if (if_match)
		snprintf(etag, sizeof etag, "\"%s\"", if_match);
	struct http_header headers[2] = {{"If-Match", etag}, {NULL, NULL}};
	struct http_req *req = NULL;
	d->calls++;
	int rc =
	    http_call_local(d->a, method, path, body, if_match ? headers : NULL, &d->who, &req);
	json_decref(body);
	if (rc != 0 || req == NULL || req->status != expect) {
		fprintf(stderr, "cartella demo: %s %s answered %d: %.*s\n", method, path,
		        req ? req->status : 0, req ? (int)req->resp_len : 0,
		        req && req->resp_body ? req->resp_body : "");
		d->failures++;
		return NULL;
	}
	json_t *out = req->resp_len ? json_loadb(req->resp_body, req->resp_len, 0, NULL) : NULL;
	if (out != NULL && arena_defer(d->a, (void (*)(void *))json_decref, out) != 0)
		return NULL;
	return out ? out : json_true();
}

/* The id member of a response, or NULL. */
static const char *id_of(json_t *o)
{
	return json_string_value(json_object_get(o, "id"));
}

/* The version member as text (for If-Match), arena-owned. */
static const char *version_of(struct demo *d, json_t *o)
{
	return arena_printf(d->a, "%lld",
	                    (long long)json_integer_value(json_object_get(o, "version")));
}

/* Registers one person; returns the response (arena-owned) or NULL. */
static json_t *demo_person(struct demo *d, const char *surname, char sex, int birth_year,
                           const char *residence)
{
	const char *given = sex == 'F' ? PICK(female) : PICK(male);
	int m = (int)rnd(12) + 1, day = (int)rnd(28) + 1;
	const char *place = PICK(places);
	char cf[17], date[40], sexs[2] = {sex, 0};
	/* Different people may share names and dates: vary the day until unique. */
	demo_fiscal_code(surname, given, sex, birth_year, m, day, place, cf);
	snprintf(date, sizeof date, "%04d-%02d-%02d", birth_year, m, day);
	json_t *body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:[{s:s, s:s}]}",
	    "fiscal_code", cf, "surname", surname, "given_name", given, "sex", sexs, "birth_date",
	    date, "birth_place", place, "citizenship", place[0] == 'Z' ? "008" : "380", "residence",
	    residence, "address", "line", arena_printf(d->a, "%s %u", PICK(streets), rnd(120) + 1),
	    "postal_code", "20090", "istat_code", residence, "contacts", "kind", "mobile", "value",
	    arena_printf(d->a, "+39 3%02u %07u", rnd(60) + 20, rnd(10000000)));
	return demo_call(d, 201, "POST", body, NULL, "/api/v1/persons");
}

/* One household with its members, ISEE, case, assessments, plan, notes and
 * interventions, in the case state chosen by i. */
static void demo_household(struct demo *d, const char *istat, int i, const char *provider,
                           json_t *services)
{
	const char *surname = PICK(surnames);
	int size = 1 + (int)rnd(4);
	int head_year = size == 1 ? 1935 + (int)rnd(30) : 1965 + (int)rnd(25);
	json_t *hh =
	    demo_call(d, 201, "POST",
	              json_pack("{s:s, s:{s:s, s:s, s:s}}", "label",
	                        arena_printf(d->a, "Famiglia %s", surname), "address", "line",
	                        arena_printf(d->a, "%s %u", PICK(streets), rnd(120) + 1),
	                        "postal_code", "20090", "istat_code", istat),
	              NULL, "/api/v1/households");
	if (hh == NULL)
		return;
	const char *hid = id_of(hh);
	const char *head = NULL, *minor = NULL;
	for (int k = 0; k < size; k++) {
		bool child = k >= 2 || (k == 1 && size > 2 && rnd(2));
		int year = child ? 2006 + (int)rnd(15) : head_year + (int)rnd(5);
		char sex = k == 1 ? 'F' : (rnd(2) ? 'M' : 'F');
		json_t *p = demo_person(d, surname, sex, year, istat);
		if (p == NULL)
			continue;
		const char *relation = k == 0 ? "1" : child ? "3" : "2";
		if (k == 0)
			head = id_of(p);
		if (child && year > 2008)
			minor = id_of(p);
		demo_call(d, 201, "POST",
		          json_pack("{s:s, s:s, s:b, s:s}", "person_id", id_of(p), "relation",
		                    relation, "head", k == 0, "valid_from", "2021-01-01"),
		          NULL, "/api/v1/households/%s/members", hid);
	}
	if (head == NULL)
		return;
	char dsu[40];
	snprintf(dsu, sizeof dsu, "INPS-ISEE-2024-%08u%c-%02u", rnd(100000000),
	         (char)('A' + rnd(26)), rnd(99) + 1);
	if (i % 3 != 2)
		demo_call(d, 201, "POST",
		          json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "household_id", hid,
		                    "dsu_protocol", dsu, "year", 2024, "signed_on", "2024-02-15",
		                    "indicator_type", "ordinario", "value",
		                    arena_printf(d->a, "%u.%02u", 3000 + rnd(25000), rnd(100)),
		                    "valid_from", "2024-02-15", "valid_to", "2024-12-31"),
		          NULL, "/api/v1/isee");

	/* The case: one per household, in every state across the demo. */
	static const char *const states[] = {"access", "assessment", "in_charge", "in_charge",
	                                     "closed"};
	const char *target = states[i % 5];
	const char *area = minor ? "1" : size == 1 ? "2" : "3";
	json_t *c =
	    demo_call(d, 201, "POST",
	              json_pack("{s:s, s:s, s:s, s:s}", "person_id", minor ? minor : head,
	                        "household_id", hid, "area", area, "opened_on", "2023-03-01"),
	              NULL, "/api/v1/cases");
	if (c == NULL || strcmp(target, "access") == 0)
		return;
	const char *cid = id_of(c);
	c = demo_call(d, 200, "PATCH", json_pack("{s:s}", "status", "assessment"), version_of(d, c),
	              "/api/v1/cases/%s", cid);
	demo_call(d, 201, "POST",
	          json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "kind", "generic", "assessed_on",
	                    "2023-03-20", "answers", "bisogno_principale",
	                    minor ? "sostegno educativo" : "sostegno economico", "rete_familiare",
	                    rnd(2) ? "presente" : "fragile", "free_text",
	                    "Colloquio in sede e visita domiciliare; situazione da monitorare."),
	          NULL, "/api/v1/cases/%s/assessments", cid);
	demo_call(d, 201, "POST",
	          json_pack("{s:s, s:s}", "body",
	                    "Primo colloquio: raccolta della domanda e dei documenti.",
	                    "confidentiality", "normal"),
	          NULL, "/api/v1/cases/%s/notes", cid);
	if (c == NULL || strcmp(target, "assessment") == 0)
		return;
	c = demo_call(d, 200, "PATCH", json_pack("{s:s}", "status", "in_charge"), version_of(d, c),
	              "/api/v1/cases/%s", cid);
	demo_call(d, 201, "POST",
	          json_pack("{s:s, s:[{s:s}, {s:s}], s:s, s:s}", "kind",
	                    minor ? "family_project" : "personalised", "goals", "text",
	                    "Sostegno alla gestione quotidiana", "text",
	                    "Rafforzamento della rete di supporto", "start_on", "2023-04-01",
	                    "end_on", "2024-03-31"),
	          NULL, "/api/v1/cases/%s/plans", cid);
	/* Interventions: a periodic service and a one-off contribution. */
	size_t ns = json_array_size(services);
	for (size_t tries = 0; tries < ns; tries++) {
		json_t *s = json_array_get(services, (i + tries) % ns);
		const char *nature = json_string_value(json_object_get(s, "nature"));
		if (nature == NULL || strcmp(nature, "one_off") == 0)
			continue;
		unsigned monthly = 150 + rnd(600), user = rnd(2) ? 20 + rnd(50) : 0;
		json_t *funding = json_pack("[{s:s, s:s}]", "channel", "comune", "amount",
		                            arena_printf(d->a, "%u.00", monthly - user));
		if (user)
			json_array_append_new(funding,
			                      json_pack("{s:s, s:s}", "channel", "utenza", "amount",
			                                arena_printf(d->a, "%u.00", user)));
		json_t *body = json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:b, s:i, s:i}", "case_id",
		    cid, "beneficiary_id", minor ? minor : head, "service", id_of(s), "nature",
		    "periodic", "start_date", "2023-05-01", "end_date", "2024-12-31",
		    "monthly_amount", arena_printf(d->a, "%u.00", monthly), "funding", funding,
		    "management", rnd(3) ? "single" : "associated", "provider_id", provider,
		    "in_charge", 1, "user_area", atoi(area), "means_test", 1);
		json_object_set_new(body, "dsu", json_string(dsu));
		demo_call(d, 201, "POST", body, NULL, "/api/v1/interventions");
		break;
	}
	for (size_t k = 0; k < ns; k++) {
		json_t *s = json_array_get(services, k);
		const char *nature = json_string_value(json_object_get(s, "nature"));
		if (nature == NULL || strcmp(nature, "periodic") == 0)
			continue;
		unsigned total = 200 + rnd(1500);
		demo_call(d, 201, "POST",
		          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}], s:s, s:b, "
		                    "s:i, s:i, s:s}",
		                    "case_id", cid, "beneficiary_id", minor ? minor : head,
		                    "service", id_of(s), "nature", "one_off", "delivery_date",
		                    "2024-06-15", "total_amount",
		                    arena_printf(d->a, "%u.00", total), "funding", "channel",
		                    "comune", "amount", arena_printf(d->a, "%u.00", total),
		                    "management", "single", "in_charge", 1, "user_area", atoi(area),
		                    "means_test", 1, "dsu", dsu),
		          NULL, "/api/v1/interventions");
		break;
	}
	if (c == NULL || strcmp(target, "in_charge") == 0)
		return;
	demo_call(d, 200, "PATCH",
	          json_pack("{s:s, s:s, s:s}", "status", "closed", "closure_reason",
	                    "obiettivi_raggiunti", "closed_on", "2025-01-31"),
	          version_of(d, c), "/api/v1/cases/%s", cid);
}

/* Borrows tenant_id; writes into id (caller-owned). */
int demo_account(struct arena *a, const char *tenant_id, char id[UTIL_UUID_LEN + 1])
{
	struct users_account u;
	int rc = users_by_username(a, DEMO_USER, &u);
	if (rc == USERS_NOT_FOUND) {
		unsigned char rndb[32];
		char pw[65], hash[PASSWORD_HASH_MAX];
		randombytes_buf(rndb, sizeof rndb);
		util_hex(rndb, sizeof rndb, pw);
		if (password_hash(pw, hash) != 0)
			return DB_ERROR;
		rc = users_create(a, DEMO_USER, hash, tenant_id, u.id);
		if (rc == DB_OK)
			rc = users_set_disabled(a, u.id, true);
	}
	if (rc != DB_OK)
		return rc;
	util_strlcpy(id, u.id, UTIL_UUID_LEN + 1);
	const char *const roles[] = {"social_worker", "administrative", "service_manager"};
	for (size_t k = 0; rc == DB_OK && k < 3; k++)
		rc = users_grant(a, tenant_id, u.id, roles[k], NULL);
	return rc;
}

/* Loads one Comune unless it already has persons. */
static int demo_tenant(struct demo *d, const char *code)
{
	struct users_tenant t;
	char uid[UTIL_UUID_LEN + 1];
	int rc = db_begin();
	if (rc == DB_OK)
		rc = users_tenant_by_code(d->a, code, &t);
	if (rc == DB_OK)
		rc = db_set_context(d->a, t.id, NULL);
	if (rc == DB_OK)
		rc = demo_account(d->a, t.id, uid);
	if (rc == DB_OK)
		rc = db_commit();
	else
		db_rollback();
	if (rc != DB_OK) {
		fprintf(stderr, "cartella demo: cannot prepare %s (%s)\n", code,
		        db_last_sqlstate());
		return 1;
	}
	memset(&d->who, 0, sizeof d->who);
	d->who.authenticated = true;
	util_strlcpy(d->who.user_id, uid, sizeof d->who.user_id);
	util_strlcpy(d->who.tenant_id, t.id, sizeof d->who.tenant_id);
	util_strlcpy(d->who.tenant_code, t.code, sizeof d->who.tenant_code);
	util_strlcpy(d->who.username, DEMO_USER, sizeof d->who.username);
	d->who.roles = ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER;

	json_t *existing = demo_call(d, 200, "GET", NULL, NULL, "/api/v1/persons?limit=1");
	if (existing == NULL)
		return 1;
	if (json_array_size(json_object_get(existing, "items")) > 0) {
		printf("%s (%s): already has data, left as it is\n", t.name, code);
		return 0;
	}
	rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)atoll(code);
	json_t *pv = demo_call(
	    d, 201, "POST",
	    json_pack("{s:s, s:s, s:s}", "name",
	              arena_printf(d->a, "Cooperativa sociale Il Ponte %s", t.name), "tax_code",
	              code[3] == '9' ? "03412340154" : "05862340154", "kind", "cooperative"),
	    NULL, "/api/v1/providers");
	json_t *services = demo_call(d, 200, "GET", NULL, NULL, "/api/v1/services?limit=100");
	json_t *items = services ? json_object_get(services, "items") : NULL;
	int before = d->failures, calls = d->calls;
	for (int i = 0; i < 15 && items != NULL; i++)
		demo_household(d, code, i, pv ? id_of(pv) : NULL, items);
	for (int i = 0; i < 3; i++)
		demo_call(d, 201, "POST",
		          json_pack("{s:s, s:s, s:s, s:s, s:s}", "contact_on", "2024-09-10",
		                    "channel", i ? "phone" : "front_office", "area", "3", "request",
		                    "Richiesta di informazioni sui contributi economici.",
		                    "outcome", "information"),
		          NULL, "/api/v1/access-contacts");
	printf("%s (%s): demo data loaded (%d calls, %d refused)\n", t.name, code, d->calls - calls,
	       d->failures - before);
	return d->failures > before ? 1 : 0;
}

/* Loads the small demo into Corsico and Buccinasco; returns the exit status. */
static int demo_small(void)
{
	struct demo d = {0};
	d.a = arena_new();
	if (d.a == NULL)
		return 1;
	int status = demo_tenant(&d, "015093");
	status |= demo_tenant(&d, "015036");
	arena_free(d.a);
	return status;
}

/* Borrows o. */
int demo_load(const struct demo_opts *o)
{
	return o->persons > 0 ? demo_scale_run(o) : demo_small();
}
