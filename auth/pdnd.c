#include "auth/pdnd.h"
#include "auth/jwt.h"
#include "auth/policy.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/log.h"
#include "server/util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

struct pdnd_purpose {
	char purpose_id[JWT_CLAIM_MAX];
	char consumer_id[JWT_CLAIM_MAX]; /* the consumer organisation (consumerId) */
	char tenant[33];                 /* tenant code */
	uint32_t scopes;
};

struct pdnd_eservice {
	char id[JWT_CLAIM_MAX]; /* eserviceId */
	char audience[JWT_CLAIM_MAX];
	char issuer[JWT_CLAIM_MAX];
	char producer_id[JWT_CLAIM_MAX]; /* "" when not checked */
	long max_age;
	struct jwt_keyset *ks;
	struct pdnd_purpose *purposes;
	size_t npurposes;
};

/* Written by pdnd_load before the threads start, read-only afterwards. */
static struct pdnd_eservice *pdnd_services;
static size_t pdnd_nservices;

void pdnd_free(void)
{
	for (size_t i = 0; i < pdnd_nservices; i++) {
		jwt_keyset_free(pdnd_services[i].ks);
		free(pdnd_services[i].purposes);
	}
	free(pdnd_services);
	pdnd_services = NULL;
	pdnd_nservices = 0;
}

/* Copies the string member key of obj into dst (dstn bytes). Returns NULL,
 * or a fixed reason when it is absent (and required), not a string, empty or
 * too long. Borrows obj. */
static const char *pdnd_str(const json_t *obj, const char *key, bool required, char *dst,
                            size_t dstn)
{
	const json_t *v = json_object_get(obj, key);
	dst[0] = '\0';
	if (v == NULL)
		return required ? "is required" : NULL;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return "must be a non-empty string";
	if (!util_strlcpy(dst, json_string_value(v), dstn))
		return "is too long";
	return NULL;
}

/* True when every member of obj is one of the NULL-terminated names. */
static bool pdnd_only(const json_t *obj, const char *const *names, const char **unknown)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)obj, k, v)
	{
		bool known = false;
		for (size_t i = 0; names[i] != NULL && !known; i++)
			known = strcmp(names[i], k) == 0;
		if (!known) {
			*unknown = k;
			return false;
		}
	}
	return true;
}

/* Reads purpose j of e-service i from v into *p. Returns 0, or -1 with the
 * reason in err. Borrows everything. */
static int pdnd_read_purpose(const char *path, size_t i, size_t j, const json_t *v,
                             struct pdnd_purpose *p, char *err, size_t errn)
{
	static const char *const names[] = {"purpose_id", "consumer_id", "tenant", "scopes", NULL};
	const char *bad = NULL, *what = NULL;
	if (!json_is_object(v)) {
		snprintf(err, errn, "%s: eservices[%zu].purposes[%zu] must be an object", path, i,
		         j);
		return -1;
	}
	if (!pdnd_only(v, names, &bad)) {
		snprintf(err, errn, "%s: eservices[%zu].purposes[%zu]: unknown member %s", path, i,
		         j, bad);
		return -1;
	}
	if ((what = pdnd_str(v, bad = "purpose_id", true, p->purpose_id, sizeof p->purpose_id)) ||
	    (what =
	         pdnd_str(v, bad = "consumer_id", true, p->consumer_id, sizeof p->consumer_id)) ||
	    (what = pdnd_str(v, bad = "tenant", true, p->tenant, sizeof p->tenant))) {
		snprintf(err, errn, "%s: eservices[%zu].purposes[%zu].%s %s", path, i, j, bad,
		         what);
		return -1;
	}
	const json_t *sc = json_object_get(v, "scopes");
	size_t k;
	const json_t *s;
	p->scopes = 0;
	if (!json_is_array(sc) || json_array_size(sc) == 0) {
		snprintf(err, errn,
		         "%s: eservices[%zu].purposes[%zu].scopes must be a non-empty array", path,
		         i, j);
		return -1;
	}
	json_array_foreach(sc, k, s)
	{
		uint32_t b = json_is_string(s) ? policy_scope_bit(json_string_value(s)) : 0;
		if (b == 0) {
			snprintf(err, errn,
			         "%s: eservices[%zu].purposes[%zu].scopes[%zu] is not a scope",
			         path, i, j, k);
			return -1;
		}
		p->scopes |= b;
	}
	return 0;
}

/* Writes into out the JWKS path: file as given when absolute, else relative
 * to the directory of the configuration file config. Returns 0 or -1. */
static int pdnd_jwks_path(const char *config, const char *file, char *out, size_t outn)
{
	const char *slash = strrchr(config, '/');
	int n = file[0] == '/' || slash == NULL
	            ? snprintf(out, outn, "%s", file)
	            : snprintf(out, outn, "%.*s/%s", (int)(slash - config), config, file);
	return n < 0 || (size_t)n >= outn ? -1 : 0;
}

/* Reads e-service i from v into *es (keys loaded). Returns 0, or -1 with the
 * reason in err. Borrows path and v. */
static int pdnd_read_eservice(const char *path, size_t i, const json_t *v, struct pdnd_eservice *es,
                              char *err, size_t errn)
{
	static const char *const names[] = {"id",          "audience", "issuer",   "jwks_file",
	                                    "producer_id", "max_age",  "purposes", NULL};
	const char *bad = NULL, *what = NULL;
	char jwks[512], file[512];
	if (!json_is_object(v)) {
		snprintf(err, errn, "%s: eservices[%zu] must be an object", path, i);
		return -1;
	}
	if (!pdnd_only(v, names, &bad)) {
		snprintf(err, errn, "%s: eservices[%zu]: unknown member %s", path, i, bad);
		return -1;
	}
	if ((what = pdnd_str(v, bad = "id", true, es->id, sizeof es->id)) ||
	    (what = pdnd_str(v, bad = "audience", true, es->audience, sizeof es->audience)) ||
	    (what = pdnd_str(v, bad = "issuer", true, es->issuer, sizeof es->issuer)) ||
	    (what = pdnd_str(v, bad = "jwks_file", true, file, sizeof file)) ||
	    (what = pdnd_str(v, bad = "producer_id", false, es->producer_id,
	                     sizeof es->producer_id))) {
		snprintf(err, errn, "%s: eservices[%zu].%s %s", path, i, bad, what);
		return -1;
	}
	const json_t *age = json_object_get(v, "max_age");
	es->max_age = 0;
	if (age != NULL && (!json_is_integer(age) || json_integer_value(age) < 1 ||
	                    json_integer_value(age) > 86400)) {
		snprintf(err, errn, "%s: eservices[%zu].max_age must be an integer 1..86400", path,
		         i);
		return -1;
	}
	if (age != NULL)
		es->max_age = (long)json_integer_value(age);
	const json_t *ps = json_object_get(v, "purposes");
	if (!json_is_array(ps) || json_array_size(ps) == 0 ||
	    json_array_size(ps) > PDND_MAX_PURPOSES) {
		snprintf(err, errn,
		         "%s: eservices[%zu].purposes must be an array of 1..%d purposes", path, i,
		         PDND_MAX_PURPOSES);
		return -1;
	}
	es->purposes = calloc(json_array_size(ps), sizeof *es->purposes);
	if (es->purposes == NULL) {
		snprintf(err, errn, "%s: out of memory", path);
		return -1;
	}
	size_t j;
	const json_t *pv;
	json_array_foreach(ps, j, pv)
	{
		if (pdnd_read_purpose(path, i, j, pv, &es->purposes[j], err, errn) != 0)
			return -1;
		for (size_t k = 0; k < j; k++)
			if (strcmp(es->purposes[k].purpose_id, es->purposes[j].purpose_id) == 0) {
				snprintf(err, errn,
				         "%s: eservices[%zu]: purpose %s is listed twice", path, i,
				         es->purposes[j].purpose_id);
				return -1;
			}
		es->npurposes = j + 1;
	}
	if (pdnd_jwks_path(path, file, jwks, sizeof jwks) != 0) {
		snprintf(err, errn, "%s: eservices[%zu].jwks_file: path too long", path, i);
		return -1;
	}
	char kerr[384];
	if (jwt_keyset_load(jwks, &es->ks, kerr, sizeof kerr) != 0) {
		snprintf(err, errn, "%s: eservices[%zu]: %s", path, i, kerr);
		return -1;
	}
	return 0;
}

/* Borrows path; owns what it loads until pdnd_free. */
int pdnd_load(const char *path, char *err, size_t errn)
{
	int rc = -1;
	json_t *root = NULL;
	json_error_t jerr;
	struct stat st;
	pdnd_free();
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > PDND_CONFIG_MAX) {
		snprintf(err, errn, "%s: not a readable regular file of at most %d bytes", path,
		         PDND_CONFIG_MAX);
		goto out;
	}
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errn, "%s: line %d: %s", path, jerr.line, jerr.text);
		goto out;
	}
	static const char *const names[] = {"eservices", NULL};
	const char *bad = NULL;
	const json_t *arr = json_object_get(root, "eservices");
	if (!json_is_object(root) || !pdnd_only(root, names, &bad)) {
		snprintf(err, errn, "%s: an object with the one member eservices expected", path);
		goto out;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > PDND_MAX_ESERVICES) {
		snprintf(err, errn, "%s: eservices must be an array of 1..%d e-services", path,
		         PDND_MAX_ESERVICES);
		goto out;
	}
	pdnd_services = calloc(json_array_size(arr), sizeof *pdnd_services);
	if (pdnd_services == NULL) {
		snprintf(err, errn, "%s: out of memory", path);
		goto out;
	}
	size_t i;
	const json_t *v;
	json_array_foreach(arr, i, v)
	{
		pdnd_nservices = i + 1;
		if (pdnd_read_eservice(path, i, v, &pdnd_services[i], err, errn) != 0)
			goto out;
	}
	rc = 0;
	log_event(LOGL_INFO, "PDND e-services loaded",
	          json_pack("{s:s, s:s, s:i}", "component", "pdnd", "file", path, "eservices",
	                    (int)pdnd_nservices));
out:
	json_decref(root);
	if (rc != 0)
		pdnd_free();
	return rc;
}

/* Replies 401 (no detail) after logging reason (fixed strings and ids from a
 * verified voucher or the configuration only). Returns 1. */
static int pdnd_deny(struct http_req *req, json_t *reason)
{
	log_event(LOGL_WARN, "PDND voucher refused",
	          json_pack("{s:s, s:s, s:o}", "component", "pdnd", "request_id", req->request_id,
	                    "reason", reason ? reason : json_null()));
	http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	http_reply_problem(req, PROBLEM_UNAUTHORIZED, NULL);
	return 1;
}

static const struct db_stmt st_tenant = {
    "pdnd_tenant",
    "SELECT id FROM tenant WHERE code = $1",
};

/* Sets the principal of an accepted voucher (claims c) for purpose p of
 * e-service es, and the tenant context. Returns 0, or 1 after replying. */
static int pdnd_principal(struct http_req *req, const struct pdnd_eservice *es,
                          const struct pdnd_purpose *p, const struct jwt_claims *c)
{
	const char *params[1] = {p->tenant};
	PGresult *r;
	int rc = db_exec(req->arena, &st_tenant, 1, params, &r);
	if (rc != DB_OK) {
		http_reply_db_error(req, DB_UNAVAILABLE);
		return 1;
	}
	if (PQntuples(r) != 1) {
		log_event(LOGL_ERROR, "PDND configuration names an unknown tenant",
		          json_pack("{s:s, s:s, s:s}", "component", "pdnd", "eservice", es->id,
		                    "tenant", p->tenant));
		return pdnd_deny(req, json_string("the purpose's tenant does not exist"));
	}
	struct http_principal *pr = &req->principal;
	memset(pr, 0, sizeof *pr);
	util_strlcpy(pr->tenant_id, PQgetvalue(r, 0, 0), sizeof pr->tenant_id);
	util_strlcpy(pr->tenant_code, p->tenant, sizeof pr->tenant_code);
	int n = snprintf(pr->client_ref, sizeof pr->client_ref, "pdnd:%s:%s:%s", es->id,
	                 c->consumer_org, c->purpose_id);
	if (n < 0 || (size_t)n >= sizeof pr->client_ref) {
		memset(pr, 0, sizeof *pr);
		return pdnd_deny(req, json_string("e-service, consumer and purpose ids too long"));
	}
	pr->scopes = p->scopes;
	rc = db_set_context(req->arena, pr->tenant_id, NULL);
	if (rc != DB_OK) {
		memset(pr, 0, sizeof *pr);
		http_reply_db_error(req, DB_UNAVAILABLE);
		return 1;
	}
	pr->client = true;
	pr->authenticated = true;
	return 0;
}

int pdnd_authenticate(struct http_req *req)
{
	const char *h = http_header(req, "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || pdnd_nservices == 0)
		return pdnd_deny(req, json_string("no voucher, or no e-service configured"));
	const char *token = h + 7;
	while (*token == ' ')
		token++;
	time_t now = time(NULL);
	json_t *reasons = json_object();
	struct jwt_claims c;
	for (size_t i = 0; i < pdnd_nservices; i++) {
		const struct pdnd_eservice *es = &pdnd_services[i];
		struct jwt_expect want = {
		    .issuer = es->issuer,
		    .audience = es->audience,
		    .max_age = es->max_age,
		    .producer_id = es->producer_id[0] ? es->producer_id : NULL,
		    .eservice_id = es->id,
		};
		char why[128];
		if (jwt_verify(es->ks, token, &want, now, &c, why, sizeof why) != 0) {
			json_object_set_new(reasons, es->id, json_string(why));
			continue;
		}
		json_decref(reasons);
		for (size_t j = 0; j < es->npurposes; j++) {
			const struct pdnd_purpose *p = &es->purposes[j];
			if (strcmp(p->purpose_id, c.purpose_id) != 0)
				continue;
			if (strcmp(p->consumer_id, c.consumer_org) != 0)
				return pdnd_deny(req,
				                 json_string("consumerId is not the purpose's"));
			return pdnd_principal(req, es, p, &c);
		}
		return pdnd_deny(req, json_string("purposeId not configured for the e-service"));
	}
	return pdnd_deny(req, reasons);
}
