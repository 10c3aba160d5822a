#include "api/intervention_rules.h"
#include "api/validate.h"
#include "server/jsonx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const iv_share_name[SH__COUNT] = {"tenant", "user", "health"};

/* The properties of a request body: create requires what a new intervention
 * needs; update (PATCH) requires nothing (types and names only). */
size_t iv_read_body(json_t *body, bool create, struct iv_rec *in, json_t **shares, json_t **funding,
                    const char **hours, const char **monthly, const char **total, json_t *errors)
{
	unsigned req_flag = create ? JX_REQUIRED : 0;
	const struct jsonx_field spec[] = {
	    {"case_id", JX_STRING, JX_NULLABLE, 1, 64, &in->case_id, NULL},
	    {"beneficiary_id", JX_STRING, req_flag, 1, 64, &in->beneficiary_id, NULL},
	    {"service", JX_STRING, req_flag, 1, 64, &in->service, NULL},
	    {"nature", JX_STRING, req_flag, 1, 16, &in->nature, NULL},
	    {"start_date", JX_STRING, JX_NULLABLE, 1, 16, &in->start_date, NULL},
	    {"end_date", JX_STRING, JX_NULLABLE, 1, 16, &in->end_date, NULL},
	    {"delivery_date", JX_STRING, JX_NULLABLE, 1, 16, &in->delivery_date, NULL},
	    {"monthly_amount", JX_STRING, JX_NULLABLE, 1, 24, monthly, NULL},
	    {"total_amount", JX_STRING, JX_NULLABLE, 1, 24, total, NULL},
	    {"hours_per_month", JX_STRING, JX_NULLABLE, 1, 24, hours, NULL},
	    {"means_test", JX_INT, req_flag, 0, 0, &in->means_test, NULL},
	    {"dsu", JX_STRING, JX_NULLABLE, 1, 30, &in->dsu, NULL},
	    {"shares", JX_OBJECT, JX_NULLABLE, 0, 0, shares, NULL},
	    {"funding", JX_ARRAY, req_flag, 1, IV_MAX_FUNDING, funding, NULL},
	    {"management", JX_STRING, 0, 1, 16, &in->management, NULL},
	    {"provider_id", JX_STRING, JX_NULLABLE, 1, 64, &in->provider_id, NULL},
	    {"in_charge", JX_BOOL, req_flag, 0, 0, &in->in_charge, NULL},
	    {"user_area", JX_INT, JX_NULLABLE, 0, 0, &in->user_area, NULL},
	    {"application_protocol", JX_STRING, JX_NULLABLE, 1, 32, &in->application_protocol,
	     NULL},
	    {"status", JX_STRING, 0, 1, 16, &in->status, NULL},
	};
	return jsonx_read(body, "", spec, sizeof spec / sizeof spec[0], errors);
}

/* Adds an error when id is not a UUID. */
static void iv_check_uuid(json_t *errors, const char *field, const char *id)
{
	if (id != NULL && !util_is_uuid(id))
		jsonx_error(errors, field, "format", "deve essere un UUID");
}

/* Parses an amount for field into *cents (0 when absent or invalid). */
static void iv_amount(json_t *errors, const char *field, const char *s, bool zero_ok,
                      int64_t *cents)
{
	const char *rule, *m;
	*cents = 0;
	if (s != NULL && (m = validate_amount(s, zero_ok, cents, &rule)) != NULL) {
		*cents = 0;
		jsonx_error(errors, field, rule, m);
	}
}

/* Parses a date for field; *has tells whether it is present and valid. */
static void iv_date(json_t *errors, const char *field, const char *s, int32_t *days, bool *has)
{
	const char *rule, *m;
	*has = false;
	if (s == NULL)
		return;
	if ((m = validate_date(s, days, &rule)) != NULL)
		jsonx_error(errors, field, rule, m);
	else
		*has = true;
}

/* Reports field as not allowed for the nature when it is given. */
static void iv_refuse(json_t *errors, const char *field, const void *given, const char *nature)
{
	if (given == NULL)
		return;
	char msg[96];
	snprintf(msg, sizeof msg, "non previsto per un intervento %s",
	         strcmp(nature, "periodic") == 0 ? "periodico (periodic)" : "una tantum (one_off)");
	jsonx_error(errors, field, "not_allowed", msg);
}

/* Validates the shares object into in. */
static void iv_parse_shares(json_t *shares, struct iv_rec *in, json_t *errors)
{
	const char *v[SH__COUNT] = {NULL, NULL, NULL};
	const struct jsonx_field spec[] = {
	    {"tenant", JX_STRING, JX_NULLABLE, 1, 24, &v[SH_TENANT], NULL},
	    {"user", JX_STRING, JX_NULLABLE, 1, 24, &v[SH_USER], NULL},
	    {"health", JX_STRING, JX_NULLABLE, 1, 24, &v[SH_HEALTH], NULL},
	};
	jsonx_read(shares, "shares.", spec, SH__COUNT, errors);
	for (int s = 0; s < SH__COUNT; s++) {
		char field[32];
		snprintf(field, sizeof field, "shares.%s", iv_share_name[s]);
		size_t before = json_array_size(errors);
		iv_amount(errors, field, v[s], true, &in->share[s]);
		in->has_share[s] = v[s] != NULL && json_array_size(errors) == before;
	}
}

/* True when s is 1-32 characters a code list may hold ([A-Za-z0-9._-]). */
bool iv_code_syntax(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 32 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Validates the funding array into in (channels checked against the list
 * later, by iv_check_refs). */
static void iv_parse_funding(json_t *funding, struct iv_rec *in, json_t *errors)
{
	size_t i;
	json_t *item;
	char prefix[32], field[48];
	json_array_foreach(funding, i, item)
	{
		const char *channel = NULL, *amount = NULL;
		const struct jsonx_field spec[] = {
		    {"channel", JX_STRING, JX_REQUIRED, 1, 32, &channel, NULL},
		    {"amount", JX_STRING, JX_REQUIRED, 1, 24, &amount, NULL},
		};
		snprintf(prefix, sizeof prefix, "funding[%zu].", i);
		jsonx_read(item, prefix, spec, 2, errors);
		int64_t cents = 0;
		snprintf(field, sizeof field, "funding[%zu].amount", i);
		iv_amount(errors, field, amount, false, &cents);
		if (channel == NULL)
			continue;
		snprintf(field, sizeof field, "funding[%zu].channel", i);
		if (!iv_code_syntax(channel)) {
			jsonx_error(errors, field, "unknown",
			            "canale di finanziamento sconosciuto (lista funding-channels)");
			continue;
		}
		bool dup = false;
		for (size_t k = 0; k < in->nparts && !dup; k++)
			dup = strcmp(in->part[k].channel, channel) == 0;
		if (dup) {
			jsonx_error(errors, field, "duplicate",
			            "canale già presente: una sola quota per canale");
			continue;
		}
		if (in->nparts < IV_MAX_FUNDING)
			in->part[in->nparts++] = (struct iv_part){channel, cents, i};
	}
}

/* Reads body (an object) as a whole intervention into *in, checking every
 * rule that needs no database: types, formats, the fields the nature
 * requires and refuses, dates and their order, amounts, shares and funding
 * against the cost, enumerations. Errors go to errors. */
void iv_parse(json_t *body, struct iv_rec *in, json_t *errors)
{
	static const char *const natures[] = {"periodic", "one_off", NULL};
	static const char *const managements[] = {"single", "associated", NULL};
	static const char *const statuses[] = {"active", "suspended", "ended", "cancelled", NULL};
	memset(in, 0, sizeof *in);
	in->in_charge = -1;
	json_t *shares = NULL, *funding = NULL;
	const char *hours = NULL, *monthly = NULL, *total = NULL;
	iv_read_body(body, true, in, &shares, &funding, &hours, &monthly, &total, errors);
	if (!json_is_object(body))
		return;
	if (in->management == NULL)
		in->management = "single";
	if (in->status == NULL)
		in->status = "active";

	iv_check_uuid(errors, "case_id", in->case_id);
	iv_check_uuid(errors, "beneficiary_id", in->beneficiary_id);
	iv_check_uuid(errors, "provider_id", in->provider_id);
	if (in->service != NULL && !util_is_uuid(in->service) && !iv_code_syntax(in->service))
		jsonx_error(errors, "service", "format",
		            "l'id (UUID) o il codice di un servizio del catalogo");
	if (in->nature != NULL && !jsonx_in(in->nature, natures)) {
		jsonx_error(errors, "nature", "enum", "uno tra periodic, one_off");
		in->nature = NULL;
	}
	if (!jsonx_in(in->management, managements))
		jsonx_error(errors, "management", "enum", "uno tra single, associated");
	if (!jsonx_in(in->status, statuses))
		jsonx_error(errors, "status", "enum",
		            "uno tra active, suspended, ended, cancelled");

	iv_date(errors, "start_date", in->start_date, &in->start_days, &in->has_start);
	iv_date(errors, "end_date", in->end_date, &in->end_days, &in->has_end);
	iv_date(errors, "delivery_date", in->delivery_date, &in->delivery_days, &in->has_delivery);
	iv_amount(errors, "monthly_amount", monthly, false, &in->monthly);
	iv_amount(errors, "total_amount", total, false, &in->total);

	/* The nature decides which fields are required and which are refused. */
	bool periodic = in->nature && strcmp(in->nature, "periodic") == 0;
	bool one_off = in->nature && strcmp(in->nature, "one_off") == 0;
	if (periodic) {
		if (in->start_date == NULL)
			jsonx_error(errors, "start_date", "required",
			            "obbligatorio per un intervento periodico");
		if (monthly == NULL)
			jsonx_error(errors, "monthly_amount", "required",
			            "obbligatorio per un intervento periodico");
		iv_refuse(errors, "delivery_date", in->delivery_date, in->nature);
		iv_refuse(errors, "total_amount", total, in->nature);
		if (in->has_start && in->has_end && in->end_days < in->start_days)
			jsonx_error(errors, "end_date", "order",
			            "la data di fine precede la data di inizio");
		if (in->end_date == NULL && strcmp(in->status, "ended") == 0)
			jsonx_error(errors, "end_date", "required",
			            "obbligatorio per chiudere un intervento periodico (status "
			            "ended)");
	} else if (one_off) {
		if (in->delivery_date == NULL)
			jsonx_error(errors, "delivery_date", "required",
			            "obbligatorio per un intervento una tantum");
		if (total == NULL)
			jsonx_error(errors, "total_amount", "required",
			            "obbligatorio per un intervento una tantum");
		iv_refuse(errors, "start_date", in->start_date, in->nature);
		iv_refuse(errors, "end_date", in->end_date, in->nature);
		iv_refuse(errors, "monthly_amount", monthly, in->nature);
		iv_refuse(errors, "hours_per_month", hours, in->nature);
	}

	if (hours != NULL) {
		int64_t hc = 0;
		const char *rule;
		if (validate_amount(hours, false, &hc, &rule) != NULL || hc > IV_MAX_HOURS_CENTS)
			jsonx_error(errors, "hours_per_month",
			            hc > IV_MAX_HOURS_CENTS ? "range" : rule,
			            "ore al mese: numero positivo con al massimo due decimali, "
			            "fino a 744 (es. 20.50)");
		else
			validate_format_cents(hc, in->hours, sizeof in->hours);
	}

	/* Means test (PresenzaProvaMezzi): 1 = ISEE, which needs the DSU. */
	const char *rule, *m;
	if (json_object_get(body, "means_test") != NULL &&
	    (in->means_test < 1 || in->means_test > 4))
		jsonx_error(errors, "means_test", "enum",
		            "1 (ISEE), 2 (prova dei mezzi non ISEE), 3 (esente per il "
		            "beneficiario), 4 (nessuna prova dei mezzi)");
	if (in->dsu != NULL && (m = validate_dsu(in->dsu, &rule)) != NULL)
		jsonx_error(errors, "dsu", rule, m);
	if (in->means_test == 1 && in->dsu == NULL)
		jsonx_error(errors, "dsu", "required",
		            "obbligatorio quando la prestazione è soggetta a ISEE (means_test 1)");

	json_t *area = json_object_get(body, "user_area");
	if (json_is_integer(area) && (in->user_area < 1 || in->user_area > 3)) {
		jsonx_error(errors, "user_area", "unknown",
		            "area utenza SIUSS: 1, 2 o 3 (lista siuss-user-areas)");
		in->user_area = -1; /* reported: neither absent nor valid */
	}
	if (in->application_protocol != NULL &&
	    strspn(in->application_protocol, " ") == strlen(in->application_protocol))
		jsonx_error(errors, "application_protocol", "format", "non può essere vuoto");

	if (shares != NULL)
		iv_parse_shares(shares, in, errors);
	if (funding != NULL)
		iv_parse_funding(funding, in, errors);

	/* Amounts against the cost: the monthly amount of a periodic
	 * intervention (funding is split per month), the total of a one-off. */
	int64_t cost = periodic ? in->monthly : one_off ? in->total : 0;
	if (cost > 0 && funding != NULL && in->nparts == json_array_size(funding)) {
		int64_t sum = 0;
		bool all_valid = true;
		for (size_t k = 0; k < in->nparts; k++) {
			sum += in->part[k].cents;
			all_valid &= in->part[k].cents > 0;
		}
		if (all_valid && sum != cost) {
			char s1[24], s2[24], msg[200];
			validate_format_cents(sum, s1, sizeof s1);
			validate_format_cents(cost, s2, sizeof s2);
			snprintf(msg, sizeof msg,
			         "la somma delle quote (%s) deve essere uguale al costo (%s, %s)",
			         s1, s2, periodic ? "importo mensile" : "importo totale");
			jsonx_error(errors, "funding", "sum", msg);
		}
	}
	if (cost > 0) {
		int64_t sum = 0;
		for (int s = 0; s < SH__COUNT; s++)
			sum += in->has_share[s] ? in->share[s] : 0;
		if (sum > cost)
			jsonx_error(errors, "shares", "sum",
			            "le quote ente, utente e SSN insieme superano il costo");
	}
}
