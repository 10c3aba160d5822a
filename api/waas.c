/* The SIUSS PS/PSA flows of a tenant (schema/016_flows.sql): from each
 * intervention and its beneficiary, a snapshot of every value the XML needs,
 * with the export rules of reference/notes/siuss-flows-and-codes.md §3
 * applied; and the sync step that appends the flows INPS has not seen yet.
 * docs/reporting.md says where every XML field comes from. */
#include "api/waas.h"
#include "api/api.h"
#include "api/sinba.h"
#include "api/validate.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/config.h"
#include "server/db.h"
#include "server/http.h"
#include "server/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ISTAT region of each province (the first three digits of a municipality's
 * ISTAT code, historic numbering), for Indirizzo@CodiceRegione. */
static const struct {
	unsigned short province;
	const char *region;
} province_region[] = {
    {1, "01"},   {2, "01"},   {3, "01"},   {4, "01"},   {5, "01"},   {6, "01"},   {96, "01"},
    {103, "01"}, {7, "02"},   {12, "03"},  {13, "03"},  {14, "03"},  {15, "03"},  {16, "03"},
    {17, "03"},  {18, "03"},  {19, "03"},  {20, "03"},  {97, "03"},  {98, "03"},  {108, "03"},
    {21, "04"},  {22, "04"},  {23, "05"},  {24, "05"},  {25, "05"},  {26, "05"},  {27, "05"},
    {28, "05"},  {29, "05"},  {30, "06"},  {31, "06"},  {32, "06"},  {93, "06"},  {8, "07"},
    {9, "07"},   {10, "07"},  {11, "07"},  {33, "08"},  {34, "08"},  {35, "08"},  {36, "08"},
    {37, "08"},  {38, "08"},  {39, "08"},  {40, "08"},  {99, "08"},  {45, "09"},  {46, "09"},
    {47, "09"},  {48, "09"},  {49, "09"},  {50, "09"},  {51, "09"},  {52, "09"},  {53, "09"},
    {100, "09"}, {54, "10"},  {55, "10"},  {41, "11"},  {42, "11"},  {43, "11"},  {44, "11"},
    {109, "11"}, {56, "12"},  {57, "12"},  {58, "12"},  {59, "12"},  {60, "12"},  {66, "13"},
    {67, "13"},  {68, "13"},  {69, "13"},  {70, "14"},  {94, "14"},  {61, "15"},  {62, "15"},
    {63, "15"},  {64, "15"},  {65, "15"},  {71, "16"},  {72, "16"},  {73, "16"},  {74, "16"},
    {75, "16"},  {110, "16"}, {76, "17"},  {77, "17"},  {78, "18"},  {79, "18"},  {80, "18"},
    {101, "18"}, {102, "18"}, {81, "19"},  {82, "19"},  {83, "19"},  {84, "19"},  {85, "19"},
    {86, "19"},  {87, "19"},  {88, "19"},  {89, "19"},  {90, "20"},  {91, "20"},  {92, "20"},
    {95, "20"},  {104, "20"}, {105, "20"}, {106, "20"}, {107, "20"}, {111, "20"},
};

const char *waas_region(const char *istat)
{
	if (istat == NULL || strlen(istat) != 6)
		return NULL;
	unsigned prov =
	    (unsigned)((istat[0] - '0') * 100 + (istat[1] - '0') * 10 + (istat[2] - '0'));
	for (size_t i = 0; i < sizeof province_region / sizeof province_region[0]; i++)
		if (province_region[i].province == prov)
			return province_region[i].region;
	return NULL;
}

void waas_ms_rfc3339(long long ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	if (gmtime_r(&secs, &tm) == NULL) {
		util_strlcpy(out, "1970-01-01T00:00:00.000Z", 32);
		return;
	}
	char day[24];
	strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", day, (int)(ms % 1000));
}

/* ------------------------------------------------------------- snapshots */

/* The columns every snapshot query returns, in the order of the enum. */
#define WS_COLUMNS                                                                                 \
	"i.id, i.version, p.id, p.version, p.restricted, i.status, s.never_export, "               \
	"s.export_only_if_in_charge, s.inps_code, i.in_charge, i.nature, "                         \
	"to_char(i.start_date, 'YYYY-MM-DD'), to_char(i.end_date, 'YYYY-MM-DD'), "                 \
	"to_char(i.delivery_date, 'YYYY-MM-DD'), i.monthly_amount_cents, i.total_amount_cents, "   \
	"i.hours_per_month, i.means_test, i.dsu_protocol, i.share_tenant_cents, "                  \
	"i.share_user_cents, i.share_health_cents, i.user_area, i.application_protocol, "          \
	"coalesce(c.label_it, s.name), p.fiscal_code_enc, p.fiscal_code_kind, p.surname_enc, "     \
	"p.given_name_enc, p.birth_place_enc, p.birth_year, p.sex, p.citizenship, "                \
	"p.residence_istat, "                                                                      \
	"(SELECT to_char(e.signed_on, 'YYYY-MM-DD') FROM isee e WHERE e.tenant_id = i.tenant_id "  \
	"   AND e.dsu_protocol = i.dsu_protocol ORDER BY e.signed_on DESC LIMIT 1), "              \
	"s.isee_linked, i.case_id, sa.id, sa.answers::text "
/* sa: the latest sina assessment of the intervention's case, when the case
 * is the beneficiary's own (the SINA section of the flow). */
#define WS_FROM                                                                                    \
	"FROM intervention i "                                                                     \
	"JOIN person p ON p.tenant_id = i.tenant_id AND p.id = i.beneficiary_id "                  \
	"JOIN service_catalogue s ON s.tenant_id = i.service_tenant_id AND s.id = i.service_id "   \
	"LEFT JOIN code c ON c.list = 'inps-prestazioni' AND c.code = s.inps_code "                \
	"LEFT JOIN LATERAL (SELECT x.id, x.answers FROM assessment x JOIN social_case sc "         \
	"      ON sc.tenant_id = x.tenant_id AND sc.id = x.case_id "                               \
	"     AND sc.person_id = i.beneficiary_id WHERE x.tenant_id = i.tenant_id "                \
	"     AND x.case_id = i.case_id AND x.kind = 'sina' ORDER BY x.version DESC LIMIT 1) sa "  \
	"  ON true "
enum {
	W_ID,
	W_VERSION,
	W_PERSON,
	W_PERSON_VERSION,
	W_RESTRICTED,
	W_STATUS,
	W_NEVER,
	W_ONLY_IN_CHARGE,
	W_INPS,
	W_IN_CHARGE,
	W_NATURE,
	W_START,
	W_END,
	W_DELIVERY,
	W_MONTHLY,
	W_TOTAL,
	W_HOURS,
	W_MEANS,
	W_DSU,
	W_SHARE_TENANT,
	W_SHARE_USER,
	W_SHARE_HEALTH,
	W_AREA,
	W_PROTOCOL,
	W_DENOMINATION,
	W_CF_ENC,
	W_CF_KIND,
	W_SURNAME_ENC,
	W_GIVEN_ENC,
	W_PLACE_ENC,
	W_BIRTH_YEAR,
	W_SEX,
	W_CITIZENSHIP,
	W_RESIDENCE,
	W_DSU_DATE,
	W_ISEE_LINKED,
	W_CASE,
	W_SINA_ID,
	W_SINA_ANSWERS,
	W__COUNT
};

const char *waas_col(PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

bool waas_true(PGresult *r, int row, int c)
{
	const char *v = waas_col(r, row, c);
	return v != NULL && v[0] == 't';
}

bool waas_exportable(const char *status, bool never_export, bool only_in_charge, const char *code,
                     bool in_charge)
{
	if (strcmp(status, "cancelled") == 0 || never_export || code == NULL)
		return false;
	bool charge_code = strncmp(code, "A2.", 3) == 0 && strlen(code) >= 5 &&
	                   strncmp(code + 3, "16", 2) >= 0 && strncmp(code + 3, "29", 2) <= 0;
	return !((only_in_charge || charge_code) && !in_charge);
}

/* Whether the export rules let intervention row out at all (restriction
 * aside): waas_exportable on the row's columns. */
static bool ws_exportable(PGresult *r, int row)
{
	return waas_exportable(PQgetvalue(r, row, W_STATUS), waas_true(r, row, W_NEVER),
	                       waas_true(r, row, W_ONLY_IN_CHARGE), waas_col(r, row, W_INPS),
	                       waas_true(r, row, W_IN_CHARGE));
}

/* Decrypts person column (fiscal_code, surname, ...) of row into *out (NULL
 * when SQL NULL). Returns a db_rc or CRYPT_INTEGRITY. */
static int ws_dec(struct http_req *req, PGresult *r, int row, int c, const char *column,
                  const char **out)
{
	*out = NULL;
	if (PQgetisnull(r, row, c))
		return DB_OK;
	struct crypt_ctx ctx = {"person", column, req->principal.tenant_id,
	                        PQgetvalue(r, row, W_PERSON)};
	size_t len;
	return crypt_decrypt(req->arena, &ctx, PQgetvalue(r, row, c), out, &len);
}

/* An arena copy of the UTF-8 text s with the ASCII and Latin-1 letters
 * (à → À, ë → Ë, ...) in upper case, as INPS writes names (NULL stays NULL). */
static const char *ws_upper(struct http_req *req, const char *s)
{
	char *u = s ? arena_strdup(req->arena, s) : NULL;
	for (unsigned char *p = (unsigned char *)u; p && *p; p++) {
		if (*p < 0x80)
			*p = (unsigned char)toupper(*p);
		else if (*p == 0xC3 && p[1] >= 0xA0 && p[1] <= 0xBE && p[1] != 0xB7)
			*++p -= 0x20; /* U+00E0..U+00FE but ÷ → U+00C0..U+00DE */
	}
	return u;
}

/* Sets key of snap to the string v when v is not NULL. */
static void ws_set(json_t *snap, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(snap, key, json_string(v));
}

/* Sets key of snap to the cents column c of row as a decimal, when not NULL
 * and (positive or zero_ok). */
static void ws_cents(json_t *snap, const char *key, PGresult *r, int row, int c, bool zero_ok)
{
	const char *v = waas_col(r, row, c);
	if (v == NULL)
		return;
	long long cents = strtoll(v, NULL, 10);
	if (cents == 0 && !zero_ok)
		return;
	char buf[24];
	validate_format_cents(cents, buf, sizeof buf);
	json_object_set_new(snap, key, json_string(buf));
}

/* The periodic part of a snapshot: start, the end when it falls in the start
 * year (the XSD's rule), months delivered in the start year, monthly amount. */
static void ws_periodic(json_t *snap, PGresult *r, int row)
{
	const char *start = waas_col(r, row, W_START);
	const char *end = waas_col(r, row, W_END);
	ws_set(snap, "start", start);
	int sm = atoi(start + 5), em = 12;
	if (end != NULL && strncmp(end, start, 4) == 0) {
		ws_set(snap, "end", end);
		em = atoi(end + 5);
	}
	char period[12];
	snprintf(period, sizeof period, "%d", em - sm + 1);
	ws_set(snap, "period", period);
	ws_cents(snap, "monthly", r, row, W_MONTHLY, false);
}

bool waas_shares_add_up(const struct waas_money *m)
{
	long long sum = 0;
	bool any = false;
	const char *shares[3] = {m->share_tenant, m->share_user, m->share_health};
	for (int k = 0; k < 3; k++)
		if (shares[k] != NULL) {
			sum += strtoll(shares[k], NULL, 10);
			any = true;
		}
	const char *cost = m->monthly ? m->monthly : m->total;
	return any && cost != NULL && sum == strtoll(cost, NULL, 10);
}

void waas_shares_checks(const struct waas_money *m, struct waas_issues *out)
{
	bool any = m->share_tenant || m->share_user || m->share_health;
	if (any && !waas_shares_add_up(m))
		waas_issue_add(
		    out, "shares_not_adding_up",
		    "le quote (ente, utente, SSN) non sommano all'importo: il flusso non "
		    "le riporta",
		    false);
}

void waas_period_checks(const struct waas_money *m, struct waas_issues *out)
{
	if (strcmp(m->nature, "periodic") == 0 && m->end == NULL &&
	    (strcmp(m->status, "ended") == 0 || strcmp(m->status, "suspended") == 0))
		waas_issue_add(
		    out, "periodic_without_end_date",
		    "prestazione periodica conclusa o sospesa senza data di fine: i mesi "
		    "contano fino a dicembre (e negli anni seguenti)",
		    false);
}

/* The money fields of row for the shared rules (borrowed from r). */
static struct waas_money ws_money(PGresult *r, int row)
{
	struct waas_money m = {
	    PQgetvalue(r, row, W_NATURE),   waas_col(r, row, W_END),
	    PQgetvalue(r, row, W_STATUS),   waas_col(r, row, W_MONTHLY),
	    waas_col(r, row, W_TOTAL),      waas_col(r, row, W_SHARE_TENANT),
	    waas_col(r, row, W_SHARE_USER), waas_col(r, row, W_SHARE_HEALTH),
	};
	return m;
}

/* The co-payment shares, when they add up to the cost (the XSD's rule: given
 * quotas sum to the monthly or one-off amount); a zero Ente or SSN quota is
 * left out (they must be positive), a zero user quota is kept. */
static void ws_shares(json_t *snap, PGresult *r, int row)
{
	struct waas_money m = ws_money(r, row);
	if (!waas_shares_add_up(&m))
		return;
	ws_cents(snap, "share_ente", r, row, W_SHARE_TENANT, false);
	ws_cents(snap, "share_utente", r, row, W_SHARE_USER, true);
	ws_cents(snap, "share_ssn", r, row, W_SHARE_HEALTH, false);
}

/* The decrypted identity of the person of the last row ws_snapshot read
 * (id NULL: none yet); rows of one beneficiary are often adjacent (a batch
 * is ordered by person), so each is decrypted once. Strings borrowed from
 * the result and the arena, which outlive a pass. */
struct ws_person {
	const char *id, *cf, *surname, *given, *place;
};

/* Decrypts the identity of row's person into *who, unless *who holds it
 * already. Returns a db_rc or CRYPT_INTEGRITY. */
static int ws_person_of(struct http_req *req, PGresult *r, int row, struct ws_person *who)
{
	const char *id = PQgetvalue(r, row, W_PERSON);
	if (who->id != NULL && strcmp(who->id, id) == 0)
		return DB_OK;
	who->id = NULL;
	int rc = ws_dec(req, r, row, W_CF_ENC, "fiscal_code", &who->cf);
	if (rc == DB_OK)
		rc = ws_dec(req, r, row, W_SURNAME_ENC, "surname", &who->surname);
	if (rc == DB_OK)
		rc = ws_dec(req, r, row, W_GIVEN_ENC, "given_name", &who->given);
	if (rc == DB_OK)
		rc = ws_dec(req, r, row, W_PLACE_ENC, "birth_place", &who->place);
	if (rc == DB_OK)
		who->id = id;
	return rc;
}

/* Builds the snapshot of row into *snap (a new JSON object, owned by the
 * arena) and its data-quality refusal (*refusal, NULL when it can be sent);
 * when issues is not NULL, every finding on the row (refusals and what the
 * flow would misstate) is appended to it. who (borrowed) carries the last
 * person's decrypted identity from row to row. Returns a db_rc or
 * CRYPT_INTEGRITY. */
static int ws_snapshot(struct http_req *req, PGresult *r, int row, struct ws_person *who,
                       json_t **snap, const char **refusal, struct waas_issues *issues)
{
	int rc = ws_person_of(req, r, row, who);
	if (rc != DB_OK)
		return rc;
	const char *cf = who->cf, *surname = who->surname, *given = who->given, *place = who->place;
	json_t *s = json_object();
	if (s == NULL || arena_defer(req->arena, (void (*)(void *))json_decref, s) != 0)
		return DB_ERROR;
	const char *kind = waas_col(r, row, W_CF_KIND);
	if (kind != NULL && strcmp(kind, "temporary") == 0)
		cf = NULL;
	ws_set(s, "cf", ws_upper(req, cf));
	ws_set(s, "surname", ws_upper(req, surname));
	ws_set(s, "name", ws_upper(req, given));
	ws_set(s, "birth_year", waas_col(r, row, W_BIRTH_YEAR));
	ws_set(s, "birth_place", ws_upper(req, place));
	ws_set(s, "sex", strcmp(PQgetvalue(r, row, W_SEX), "F") == 0 ? "2" : "1");
	const char *cit = waas_col(r, row, W_CITIZENSHIP);
	ws_set(s, "citizenship", cit ? cit : "990");
	const char *residence = waas_col(r, row, W_RESIDENCE);
	if (residence != NULL) {
		ws_set(s, "country", "380");
		ws_set(s, "comune", residence);
		ws_set(s, "region", waas_region(residence));
	}
	const char *means = PQgetvalue(r, row, W_MEANS);
	ws_set(s, "means_test", means);
	const char *dsu = waas_col(r, row, W_DSU);
	if (strcmp(means, "1") == 0 && dsu != NULL && waas_col(r, row, W_DSU_DATE) != NULL) {
		char year[5] = {0};
		memcpy(year, dsu + 10, 4); /* INPS-ISEE-YYYY-... */
		ws_set(s, "dsu_number", dsu);
		ws_set(s, "dsu_year", year);
		ws_set(s, "dsu_date", waas_col(r, row, W_DSU_DATE));
	}
	ws_set(s, "code", waas_col(r, row, W_INPS));
	ws_set(s, "denomination", waas_col(r, row, W_DENOMINATION));
	const char *protocol = waas_col(r, row, W_PROTOCOL);
	if (protocol == NULL) { /* the intervention id, 32 hex digits */
		char *hex = arena_strdup(req->arena, PQgetvalue(r, row, W_ID));
		size_t k = 0;
		for (size_t j = 0; hex && hex[j]; j++)
			if (hex[j] != '-')
				hex[k++] = hex[j];
		if (hex)
			hex[k] = '\0';
		protocol = hex;
	}
	ws_set(s, "protocol", protocol);
	if (strcmp(PQgetvalue(r, row, W_NATURE), "periodic") == 0) {
		ws_set(s, "nature", "1");
		ws_periodic(s, r, row);
	} else {
		ws_set(s, "nature", "2");
		ws_set(s, "delivery", waas_col(r, row, W_DELIVERY));
		ws_cents(s, "total", r, row, W_TOTAL, false);
	}
	ws_shares(s, r, row);
	ws_set(s, "hours", waas_col(r, row, W_HOURS));
	bool in_charge = waas_true(r, row, W_IN_CHARGE);
	ws_set(s, "in_charge", in_charge ? "1" : "2");
	if (in_charge)
		ws_set(s, "area", waas_col(r, row, W_AREA));
	*snap = s;
	struct waas_issues local = {.n = 0};
	struct waas_issues *is = issues ? issues : &local;
	waas_ps_checks(s, is);
	*refusal = waas_first_refusal(is);
	/* after the refusals, so that a record's first finding is its refusal */
	if (waas_sina_snapshot(s, waas_col(r, row, W_SINA_ANSWERS), in_charge,
	                       waas_col(r, row, W_AREA), issues) != 0)
		return DB_ERROR;
	if (issues != NULL) {
		struct waas_money m = ws_money(r, row);
		waas_shares_checks(&m, issues);
		waas_period_checks(&m, issues);
		if (waas_true(r, row, W_ISEE_LINKED) && (means[0] == '2' || means[0] == '4'))
			waas_issue_add(issues, "isee_linked_without_means_test",
			               "servizio legato all'ISEE con prova dei mezzi 2 o 4: la "
			               "prestazione risulta non agevolata",
			               false);
	}
	return DB_OK;
}

int waas_snapshot_load(struct http_req *req, const char *id, const char *stored, json_t **snap)
{
	struct crypt_ctx ctx = {"flow_record", "payload", req->principal.tenant_id, id};
	const char *plain;
	size_t len;
	int rc = crypt_decrypt(req->arena, &ctx, stored, &plain, &len);
	if (rc != DB_OK)
		return rc;
	json_t *s = json_loadb(plain, len, 0, NULL);
	if (s == NULL || arena_defer(req->arena, (void (*)(void *))json_decref, s) != 0)
		return CRYPT_INTEGRITY;
	*snap = s;
	return DB_OK;
}

/* ------------------------------------------------------------- sync */

const char *waas_snapshot_text(struct http_req *req, json_t *snap)
{
	char *t = json_dumps(snap, JSON_COMPACT | JSON_SORT_KEYS);
	const char *out = t ? arena_strdup(req->arena, t) : NULL;
	free(t);
	return out;
}

static const struct db_stmt st_lock = {
    "waas_lock",
    "SELECT pg_advisory_xact_lock(hashtextextended('cartella.flows.' || $1, 0))",
};

/* The oldest page of the change queue (schema/030_flow_change.sql). */
static const struct db_stmt st_queue = {
    "waas_queue",
    "SELECT intervention_id, seq FROM flow_change WHERE tenant_id = $1 ORDER BY seq "
    "LIMIT $2::int",
};

/* The entries read, unless a change committed meanwhile gave them a new seq. */
static const struct db_stmt st_queue_done = {
    "waas_queue_done",
    "DELETE FROM flow_change f USING unnest($2::uuid[], $3::bigint[]) AS d (id, seq) "
    "WHERE f.tenant_id = $1 AND f.intervention_id = d.id AND f.seq = d.seq",
};

/* The queued interventions $2 with their current flow. Every one is
 * compared, not only those whose versions differ from flow_state's: an
 * entry may come from a change of the DSU's ISEE attestation or of the
 * service (schema/031_flow_change_isee_catalogue.sql), which no version
 * records; the comparison of the flow texts (ws_sync_one) is the judge. The
 * current flow's payload is a subquery on flow_record's key, not a join: a
 * join made PostgreSQL scan every flow of the Comune for each row
 * (docs/performance.md, "SIUSS flows"). */
static const struct db_stmt st_changed = {
    "waas_changed",
    "SELECT " WS_COLUMNS ", st.current_flow, "
    "(SELECT f.payload_enc FROM flow_record f "
    "  WHERE f.tenant_id = st.tenant_id AND f.id = st.current_flow) " WS_FROM
    "LEFT JOIN flow_state st ON st.tenant_id = i.tenant_id AND st.intervention_id = i.id "
    "WHERE i.tenant_id = $1 AND i.id = ANY ($2::uuid[]) "
    "ORDER BY i.created_at, i.id",
};
enum { W_CURRENT = W__COUNT, W_CURRENT_PAYLOAD };

/* Adds to pg one PS flow of operation op ("I"/"C") with snapshot text plain
 * for row; *id receives its id (arena-owned). Returns a db_rc. */
static int ws_emit(struct http_req *req, struct waas_page *pg, PGresult *r, int row, const char *op,
                   const char *plain, const char **id)
{
	struct waas_emit_of of = {"PS", NULL, PQgetvalue(r, row, W_ID),
	                          PQgetvalue(r, row, W_VERSION), PQgetvalue(r, row, W_PERSON)};
	return waas_page_flow(req, pg, &of, op, plain, id);
}

/* Brings one changed intervention (row of st_changed) up to date: adds to
 * pg the flows its change needs and what was seen (who: as for
 * ws_snapshot). The current flow's stored text is compared as it is (it was
 * written by waas_snapshot_text). Returns a db_rc or CRYPT_INTEGRITY. */
static int ws_sync_one(struct http_req *req, struct waas_page *pg, struct ws_person *who,
                       PGresult *r, int row)
{
	const char *current = waas_col(r, row, W_CURRENT);
	const char *refusal = NULL;
	const char *cur_text = NULL, *new_text = NULL;
	int rc = DB_OK;
	if (current != NULL) {
		struct crypt_ctx ctx = {"flow_record", "payload", req->principal.tenant_id,
		                        current};
		size_t len;
		rc = crypt_decrypt(req->arena, &ctx, PQgetvalue(r, row, W_CURRENT_PAYLOAD),
		                   &cur_text, &len);
		if (rc != DB_OK)
			return rc;
	}
	/* Restricted persons (GDPR art. 18) never appear in a flow: nothing is
	 * sent for them, not even a cancellation. */
	if (!waas_true(r, row, W_RESTRICTED) && ws_exportable(r, row)) {
		json_t *snap;
		rc = ws_snapshot(req, r, row, who, &snap, &refusal, NULL);
		if (rc != DB_OK)
			return rc;
		if (refusal == NULL) {
			new_text = waas_snapshot_text(req, snap);
			if (new_text == NULL)
				return DB_ERROR;
		}
	} else if (waas_true(r, row, W_RESTRICTED)) {
		cur_text = NULL; /* keep the current flow as it is */
	}
	const char *keep = current;
	bool same = cur_text && new_text && strcmp(cur_text, new_text) == 0;
	bool withdraw = cur_text != NULL && !same && (new_text != NULL || refusal == NULL);
	const char *cid = NULL;
	if (withdraw) {
		rc = ws_emit(req, pg, r, row, "C", cur_text, &cid);
		keep = NULL;
	}
	if (rc == DB_OK && new_text != NULL && !same)
		rc = ws_emit(req, pg, r, row, "I", new_text, &keep);
	if (rc != DB_OK)
		return rc;
	struct waas_seen seen = {PQgetvalue(r, row, W_ID),
	                         PQgetvalue(r, row, W_VERSION),
	                         PQgetvalue(r, row, W_PERSON_VERSION),
	                         keep,
	                         refusal,
	                         waas_col(r, row, W_SINA_ID)};
	return waas_page_state(pg, &seen);
}

/* The PS part of a sync page: the interventions of ids (uuid[] literal,
 * borrowed) that changed, their flows and states in two statements. Returns
 * a db_rc or CRYPT_INTEGRITY. */
static int ws_sync_page(struct http_req *req, const char *ids, const char *belfiore)
{
	const char *p[2] = {req->principal.tenant_id, ids};
	PGresult *r = NULL;
	int rc = db_exec(req->arena, &st_changed, 2, p, &r);
	struct waas_page pg;
	struct ws_person who = {NULL, NULL, NULL, NULL, NULL};
	if (rc == DB_OK)
		rc = waas_page_init(req, &pg, (size_t)PQntuples(r));
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++)
		rc = ws_sync_one(req, &pg, &who, r, i);
	if (rc == DB_OK)
		rc = waas_page_flush(req, &pg, belfiore);
	return rc;
}

/* Borrows ente: the caller has loaded it already (one query less per request). */
int waas_sync(struct http_req *req, const struct waas_ente *ente)
{
	char page[16];
	snprintf(page, sizeof page, "%d", config.flow_sync_page);
	const char *p[2] = {req->principal.tenant_id, page};
	int rc = db_exec(req->arena, &st_lock, 1, p, NULL);
	PGresult *q = NULL;
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_queue, 2, p, &q);
	if (rc != DB_OK || PQntuples(q) == 0)
		return rc;
	size_t n = (size_t)PQntuples(q);
	const char **ids = arena_alloc(req->arena, sizeof *ids * n);
	const char **seqs = arena_alloc(req->arena, sizeof *seqs * n);
	if (ids == NULL || seqs == NULL)
		return DB_ERROR;
	for (size_t i = 0; i < n; i++) {
		ids[i] = PQgetvalue(q, (int)i, 0);
		seqs[i] = PQgetvalue(q, (int)i, 1);
	}
	const char *d[3] = {req->principal.tenant_id, db_array(req->arena, ids, n),
	                    db_array(req->arena, seqs, n)};
	if (d[1] == NULL || d[2] == NULL)
		return DB_ERROR;
	rc = ws_sync_page(req, d[1], ente->belfiore);
	if (rc == DB_OK)
		rc = sinba_sync(req, ente->belfiore, d[1]);
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_queue_done, 3, d, NULL);
	return rc;
}

static const struct db_stmt st_ente = {
    "waas_ente",
    "SELECT belfiore_code, name, siuss_operator_cf FROM tenant WHERE id = $1",
};

int waas_ente_load(struct http_req *req, struct waas_ente *e, bool *ok)
{
	PGresult *r;
	const char *p[1] = {req->principal.tenant_id};
	*ok = false;
	memset(e, 0, sizeof *e);
	int rc = db_exec(req->arena, &st_ente, 1, p, &r);
	if (rc != DB_OK || PQntuples(r) != 1)
		return rc;
	e->belfiore = waas_col(r, 0, 0);
	e->name = waas_col(r, 0, 1);
	e->operator_cf = waas_col(r, 0, 2);
	*ok = e->belfiore != NULL && e->operator_cf != NULL;
	return DB_OK;
}

/* ------------------------------------------------------------- batch */

static const struct db_stmt st_batch = {
    "waas_batch",
    "SELECT " WS_COLUMNS WS_FROM "WHERE i.tenant_id = $1 AND NOT p.restricted " WAAS_PERIOD
    "ORDER BY p.id, coalesce(i.start_date, i.delivery_date), i.id",
};

int waas_batch_items(struct http_req *req, const char *from, const char *to,
                     struct waas_item **items, size_t *n, size_t *refused)
{
	struct ws_person who = {NULL, NULL, NULL, NULL, NULL};
	PGresult *r;
	const char *p[3] = {req->principal.tenant_id, from, to};
	*n = 0;
	*refused = 0;
	int rc = db_exec(req->arena, &st_batch, 3, p, &r);
	if (rc != DB_OK)
		return rc;
	int rows = PQntuples(r);
	*items = arena_alloc(req->arena, sizeof **items * (size_t)(rows > 0 ? rows : 1));
	if (*items == NULL)
		return DB_ERROR;
	for (int i = 0; i < rows; i++) {
		if (!ws_exportable(r, i))
			continue;
		json_t *snap;
		const char *refusal;
		rc = ws_snapshot(req, r, i, &who, &snap, &refusal, NULL);
		if (rc != DB_OK)
			return rc;
		if (refusal != NULL) {
			(*refused)++;
			continue;
		}
		(*items)[*n].snap = snap;
		(*items)[*n].op = 'I';
		(*n)++;
		rc = http_audit_object(req, "person", PQgetvalue(r, i, W_PERSON));
		if (rc != 0)
			return DB_ERROR;
	}
	return DB_OK;
}

/* ------------------------------------------------------------- data quality */

static const struct db_stmt st_quality = {
    "waas_quality",
    "SELECT " WS_COLUMNS WS_FROM WAAS_QUALITY_JOIN
    "WHERE i.tenant_id = $1 " WAAS_QUALITY_WHERE WAAS_PERIOD "ORDER BY i.created_at, i.id",
};

int waas_ps_quality(struct http_req *req, const char *from, const char *to, waas_finding_fn fn,
                    void *ctx)
{
	struct ws_person who = {NULL, NULL, NULL, NULL, NULL};
	PGresult *r;
	const char *p[3] = {req->principal.tenant_id, from, to};
	int rc = db_exec(req->arena, &st_quality, 3, p, &r);
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++) {
		if (!ws_exportable(r, i))
			continue;
		struct waas_issues is = {.n = 0};
		json_t *snap;
		const char *refusal;
		rc = ws_snapshot(req, r, i, &who, &snap, &refusal, &is);
		for (size_t k = 0; rc == DB_OK && k < is.n; k++)
			rc = fn(ctx, "intervention", PQgetvalue(r, i, W_ID),
			        PQgetvalue(r, i, W_PERSON), waas_col(r, i, W_CASE), &is.v[k]);
	}
	return rc;
}

/* ------------------------------------------------------------- per intervention */

static const struct db_stmt st_of_intervention = {
    "waas_of_intervention",
    "SELECT f.flow_id, f.operation, f.ts_flusso, f.outcome, f.outcome_detail, "
    "to_char(f.outcome_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "f.outcome_siuss_id, "
    "(SELECT refusal FROM flow_state st WHERE st.tenant_id = $1 AND st.intervention_id = $2) "
    "FROM (SELECT 1) one LEFT JOIN flow_record f ON f.tenant_id = $1 AND f.intervention_id = $2 "
    "ORDER BY f.ts_flusso",
};

int waas_intervention_flows(struct http_req *req, const char *id, json_t **out,
                            const char **refusal)
{
	PGresult *r;
	const char *p[2] = {req->principal.tenant_id, id};
	*out = NULL;
	*refusal = NULL;
	int rc = db_exec(req->arena, &st_of_intervention, 2, p, &r);
	if (rc != DB_OK)
		return rc;
	json_t *arr = json_array();
	if (arr == NULL)
		return DB_ERROR;
	for (int i = 0; i < PQntuples(r); i++) {
		if (i == 0)
			*refusal = waas_col(r, 0, 7);
		if (PQgetisnull(r, i, 0))
			continue;
		char ts[32];
		waas_ms_rfc3339(strtoll(PQgetvalue(r, i, 2), NULL, 10), ts);
#define OPTJ(c) (PQgetisnull(r, i, c) ? json_null() : json_string(PQgetvalue(r, i, c)))
		json_array_append_new(
		    arr, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id_flusso",
		                   PQgetvalue(r, i, 0), "operation", PQgetvalue(r, i, 1),
		                   "ts_flusso", ts, "outcome", OPTJ(3), "outcome_detail", OPTJ(4),
		                   "outcome_at", OPTJ(5), "siuss_acquisition_id", OPTJ(6)));
#undef OPTJ
	}
	*out = arr;
	return DB_OK;
}
