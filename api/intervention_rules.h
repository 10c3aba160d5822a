/* The rules of an intervention body (api/intervention_rules.c): which
 * properties each nature needs or refuses, amounts, dates, shares, the
 * funding split that must add up to the cost. No database access: the checks
 * that need it (ids of the tenant, services, the beneficiary's birth date)
 * stay in api/interventions.c. */
#ifndef CARTELLA_INTERVENTION_RULES_H
#define CARTELLA_INTERVENTION_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/util.h"

#define IV_MAX_FUNDING     16
#define IV_MAX_HOURS_CENTS 74400 /* 744.00 hours: every hour of a 31-day month */

enum iv_share { SH_TENANT, SH_USER, SH_HEALTH, SH__COUNT };
/* Names of the shares on the wire ("tenant", "user", "health"). */
extern const char *const iv_share_name[SH__COUNT];

/* One part of the funding split; index is its place in the body's array. */
struct iv_part {
	const char *channel;
	int64_t cents;
	size_t index;
};

/* A validated intervention (strings borrowed from the JSON or the arena). */
struct iv_rec {
	const char *case_id, *beneficiary_id, *service, *nature, *provider_id;
	const char *start_date, *end_date, *delivery_date, *dsu, *management;
	const char *application_protocol, *status;
	int32_t start_days, end_days, delivery_days;
	bool has_start, has_end, has_delivery;
	int64_t monthly, total;          /* 0 = absent */
	char hours[24];                  /* "" = absent, else normalised ("20.50") */
	long long means_test, user_area; /* user_area 0 = absent, -1 = invalid */
	int in_charge;
	bool has_share[SH__COUNT];
	int64_t share[SH__COUNT];
	struct iv_part part[IV_MAX_FUNDING];
	size_t nparts;
	/* Filled by the reference checks. */
	char service_tenant[UTIL_UUID_LEN + 1], service_id[UTIL_UUID_LEN + 1];
};

/* Reads the properties of body into in and the out-pointers (borrowed from
 * body); create requires what a new intervention must have. Returns the
 * number of errors added. */
size_t iv_read_body(json_t *body, bool create, struct iv_rec *in, json_t **shares, json_t **funding,
                    const char **hours, const char **monthly, const char **total, json_t *errors);

/* True when s is 1-32 characters a code list may hold ([A-Za-z0-9._-]). */
bool iv_code_syntax(const char *s);

/* Reads body (an object) as a whole intervention into *in, checking every
 * rule that needs no database; errors go to errors. */
void iv_parse(json_t *body, struct iv_rec *in, json_t *errors);

#endif
