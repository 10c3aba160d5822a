#include "auth/policy.h"
#include "server/http.h"
#include "server/router.h"

#include <string.h>

const char *const policy_role_names[] = {
    "social_worker", "administrative", "service_manager", "planning_office", "dpo", "admin", NULL,
};

/* The table. Keep it sorted by resource; docs/security.md is generated from it. */
static const struct policy_action actions[] = {
    {"status.read", 0, POLICY_PUBLIC, "service health (ModI /status)", 0},
    {"metrics.read", 0, POLICY_PUBLIC, "Prometheus metrics (no personal data)", 0},
    {"openapi.read", 0, POLICY_PUBLIC, "the OpenAPI contract", 0},
    {"session.create", 0, POLICY_PUBLIC, "log in", 0},
    {"session.read", POLICY_ANY_ROLE, POLICY_ENROLMENT, "read one's own session", 0},
    {"session.delete", POLICY_ANY_ROLE, POLICY_ENROLMENT, "log out", 0},
    {"totp.enrol", POLICY_ANY_ROLE, POLICY_ENROLMENT,
     "start one's own TOTP enrolment (a new secret, shown once)", 0},
    {"totp.confirm", POLICY_ANY_ROLE, POLICY_ENROLMENT,
     "activate one's own TOTP with a current code (recovery codes, shown once)", 0},
    {"user.list", ROLE_ADMIN, 0, "list staff accounts with roles in the tenant", 0},
    {"user.read", ROLE_ADMIN, 0, "read a staff account", 0},
    {"user.create", ROLE_ADMIN, 0, "create a staff account with roles in the tenant", 0},
    {"user.update", ROLE_ADMIN, 0, "change roles, disable, reset password", 0},
    {"user.totp_reset", ROLE_ADMIN, 0,
     "reset an account's second factor (home tenant only; revokes its sessions)", 0},
    {"tenant.list", POLICY_ANY_ROLE, 0, "list the Comuni and Ambiti (reference data)",
     SCOPE_CATALOGUE_READ},
    {"tenant.read", POLICY_ANY_ROLE, 0, "read a Comune or Ambito (reference data)",
     SCOPE_CATALOGUE_READ},
    {"tenant.update", ROLE_ADMIN, 0,
     "set one's own Comune's settings (the fiscal code that signs its SIUSS flows)", 0},
    {"catalogue.list", POLICY_ANY_ROLE, 0, "list the code lists with their versions",
     SCOPE_CATALOGUE_READ},
    {"catalogue.read", POLICY_ANY_ROLE, 0, "read a code list", SCOPE_CATALOGUE_READ},
    {"service.list", POLICY_ANY_ROLE, 0,
     "list the local service catalogue (own tenant's and its Ambito's services)",
     SCOPE_CATALOGUE_READ},
    {"service.read", POLICY_ANY_ROLE, 0, "read a service of the local catalogue",
     SCOPE_CATALOGUE_READ},
    {"service.create", ROLE_ADMIN, 0,
     "add a service to the tenant's catalogue (the Ambito's admin for shared services)", 0},
    {"service.update", ROLE_ADMIN, 0, "change a service of the tenant's own catalogue", 0},
    {"provider.list",
     ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE |
         ROLE_ADMIN,
     0, "list the tenant's service providers", 0},
    {"provider.read",
     ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE |
         ROLE_ADMIN,
     0, "read a service provider", 0},
    {"provider.create", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_ADMIN, 0,
     "register a service provider", 0},
    {"provider.update", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_ADMIN, 0,
     "change a service provider", 0},
    {"person.search", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list and search persons (fiscal code, surname and name)", SCOPE_PERSONS_READ},
    {"person.create", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "register a person", 0},
    {"person.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read a person's identifying data", SCOPE_PERSONS_READ},
    {"person.update", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "rectify a person's data (previous values kept)", 0},
    {"person.history", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "read a person's rectification history", 0},
    {"person.restrict", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "restrict processing of a person (GDPR art. 18): hidden from all but managers and the DPO", 0},
    {"person.unrestrict", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "lift the restriction of processing of a person", 0},
    {"person.erase", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "erase a person (GDPR art. 17): anonymise, unless a legal hold or a retention rule binds "
     "the data",
     0},
    {"retention.read", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "read the retention rules of the Comune (years per document class)", 0},
    {"retention.write", ROLE_DPO, 0, "change a retention rule (years, legal basis)", 0},
    {"legal_hold.read", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "list and read legal holds on persons and cases, with their reasons", 0},
    {"legal_hold.create", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "place a legal hold on a person or a case (blocks erasure), with a reason", 0},
    {"legal_hold.release", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "release a legal hold, with a reason", 0},
    {"person.subject_access", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "start the export of everything held about a person (GDPR art. 15) as a job", 0},
    {"household.list", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list households (optionally those a person belongs or belonged to)", 0},
    {"household.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read a household with its members over time and latest ISEE", 0},
    {"household.create", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "register a household", 0},
    {"household.update", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "change a household's label or address, add, close or correct memberships", 0},
    {"isee.list", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list ISEE attestations (by household or person)", 0},
    {"isee.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read an ISEE attestation", 0},
    {"isee.create", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "register an ISEE attestation from its DSU", 0},
    {"case.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list and read cases (status, area, dates, status history, assignments)", 0},
    {"case.write", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "open a case, move it through its life cycle, close and reopen it", 0},
    {"case.assign", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "assign workers to a case (a social worker only on cases assigned to them)", 0},
    {"note.read", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "read a case's diary notes (confidential ones: author, assigned workers, managers)", 0},
    {"note.write", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0, "write a diary note", 0},
    {"assessment.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read assessments (administrative: without the free text)", 0},
    {"assessment.write", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "record a generic, SINA or SINBA assessment", 0},
    {"assessment.annotate", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "annotate an assessment (GDPR art. 16: the data subject's statement or a professional "
     "correction; the assessment is never changed)",
     0},
    {"withholding.write", ROLE_SERVICE_MANAGER, 0,
     "withhold a note or an assessment from subject access (Codice privacy art. 2-undecies), "
     "or lift it",
     0},
    {"plan.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "read care plans with goals, outcome and follow-up", 0},
    {"plan.write", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "write a care plan, record its outcome and follow-up", 0},
    {"access_contact.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list and read front-office contacts (segretariato sociale)", 0},
    {"access_contact.write", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "record a front-office contact, anonymous or linked to a person or case", 0},
    {"intervention.read", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list and read interventions (erogazioni) with amounts, shares and funding",
     SCOPE_INTERVENTIONS_READ},
    {"intervention.write", ROLE_SOCIAL_WORKER | ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "record an intervention; change its amounts, dates, funding and status (cancel)",
     SCOPE_INTERVENTIONS_WRITE},
    {"expenditure.read", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE, 0,
     "list and read spending that is not one beneficiary's (staff, running costs, grants)", 0},
    {"expenditure.write", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "record and change spending that is not one beneficiary's", 0},
    {"population.read", POLICY_ANY_ROLE, 0,
     "read a Comune's residents by sex and age band (own Comune or the Ambito's members)", 0},
    {"population.write", ROLE_ADMIN, 0,
     "load a Comune's residents for a year (the Comune's or its Ambito's administrator)", 0},
    {"staffing.read", POLICY_ANY_ROLE, 0,
     "read a tenant's social workers (FTE) for a year (own tenant or the Ambito's members)", 0},
    {"staffing.write", ROLE_ADMIN, 0,
     "record a tenant's social workers (FTE) for a year (its or its Ambito's administrator)", 0},
    {"report.spending", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE, 0,
     "regional spending report, aggregates only (other Comuni of the Ambito: planning office)", 0},
    {"report.istat", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE, 0,
     "ISTAT survey of users, spending and co-payments by user area and service (aggregates)", 0},
    {"report.indicators", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE, 0,
     "Piano di Zona indicators over several years (aggregates)", 0},
    {"extract.run", ROLE_SERVICE_MANAGER | ROLE_PLANNING_OFFICE, 0,
     "run a predefined extract: count tables with small-cell suppression or pseudonymised "
     "microdata, for a stated purpose (other Comuni of the Ambito: planning office)",
     0},
    {"case.break_glass", ROLE_SOCIAL_WORKER | ROLE_SERVICE_MANAGER, 0,
     "open a time-boxed break-glass grant on a sealed case, with a reason (reviewed later)", 0},
    {"break_glass.review.read", ROLE_SERVICE_MANAGER, 0,
     "list and read break-glass grants with their reason and the audit events under them", 0},
    {"break_glass.review.resolve", ROLE_SERVICE_MANAGER, 0,
     "resolve a break-glass grant as justified or unjustified, with a comment (once)", 0},
    {"report.siuss_batch", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "download the SIUSS PS/PSA batch file of a period (identifying data) for manual upload", 0},
    {"report.data_quality", ROLE_ADMINISTRATIVE | ROLE_SERVICE_MANAGER, 0,
     "list the records a flow (SIUSS, SINBA, regional spending) would refuse or mis-report, "
     "by record id and rule",
     0},
    {"job.read", POLICY_ANY_ROLE, 0,
     "read one's own job: status, progress, checksum (others' jobs do not exist)", 0},
    {"job.result", POLICY_ANY_ROLE, 0,
     "download one's own job's result (streamed; what the job's own action allowed)", 0},
    {"job.release", ROLE_SERVICE_MANAGER | ROLE_DPO, 0,
     "record that one's own subject-access result was given to the data subject", 0},
    {"audit.read", ROLE_DPO, 0,
     "query the audit trail: who read or changed which object, when, with what outcome", 0},
    {"audit.verify", ROLE_DPO, 0,
     "check the seal of the tenant's audit trail: recompute the hash chain, report the first "
     "broken link",
     0},
    {"client.list", ROLE_ADMIN, 0, "list the tenant's integration clients (never their secrets)",
     0},
    {"client.read", ROLE_ADMIN, 0, "read an integration client", 0},
    {"client.create", ROLE_ADMIN, 0,
     "register an integration client with scopes (its secret is shown once)", 0},
    {"client.update", ROLE_ADMIN, 0, "disable a client, change its scopes, rotate its secret", 0},
    {"waas.status.read", 0, 0, "INPS SIUSS (WaaS): the e-service's status", SCOPE_SIUSS},
    {"waas.flows.read", 0, 0, "INPS SIUSS (WaaS): pull the PS/PSA/SINA/SINBA flows", SCOPE_SIUSS},
    {"waas.outcomes.write", 0, 0, "INPS SIUSS (WaaS): post the outcomes (esiti) of flows",
     SCOPE_SIUSS},
};

const struct policy_scope policy_scopes[] = {
    {"siuss", SCOPE_SIUSS, "INPS SIUSS e-service (WaaS): status, flows, outcomes"},
    {"persons.read", SCOPE_PERSONS_READ,
     "search and read persons' identifying data (e.g. the Anagrafe or a front-office portal)"},
    {"interventions.read", SCOPE_INTERVENTIONS_READ,
     "list and read interventions (e.g. the accounting system)"},
    {"interventions.write", SCOPE_INTERVENTIONS_WRITE,
     "record and change interventions (e.g. a provider's service-delivery system)"},
    {"catalogue.read", SCOPE_CATALOGUE_READ,
     "reference data: tenants, code lists, the local service catalogue"},
    {NULL, 0, NULL},
};

uint32_t policy_role_bit(const char *name)
{
	for (unsigned i = 0; policy_role_names[i] != NULL; i++)
		if (strcmp(policy_role_names[i], name) == 0)
			return 1u << i;
	return 0;
}

const char *policy_role_name(uint32_t bit)
{
	for (unsigned i = 0; i < POLICY_ROLE_COUNT; i++)
		if (bit == 1u << i)
			return policy_role_names[i];
	return NULL;
}

const struct policy_action *policy_find(const char *name)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

const struct policy_action *policy_actions(unsigned *n)
{
	*n = (unsigned)(sizeof actions / sizeof actions[0]);
	return actions;
}

const char *policy_route_check(const char *action, unsigned route_flags)
{
	const struct policy_action *a = policy_find(action);
	if (a == NULL)
		return "not in the policy table";
	bool route_public = (route_flags & ROUTE_PUBLIC) != 0;
	bool action_public = (a->flags & POLICY_PUBLIC) != 0;
	if (route_public != action_public)
		return "public on one side only (route flags and policy disagree)";
	if (!action_public && a->roles == 0 && a->scopes == 0)
		return "allows no role and no scope";
	return NULL;
}

uint32_t policy_scope_bit(const char *name)
{
	for (unsigned i = 0; policy_scopes[i].name != NULL; i++)
		if (strcmp(policy_scopes[i].name, name) == 0)
			return policy_scopes[i].bit;
	return 0;
}

const char *policy_scope_name(uint32_t bit)
{
	for (unsigned i = 0; policy_scopes[i].name != NULL; i++)
		if (policy_scopes[i].bit == bit)
			return policy_scopes[i].name;
	return NULL;
}

/* Parses a PostgreSQL text[] of names into bits with lookup (unknown names
 * give 0). Borrows pg_array. */
static uint32_t policy_bits_from_array(const char *pg_array, uint32_t (*lookup)(const char *))
{
	uint32_t bits = 0;
	char name[32];
	size_t n = 0;
	for (const char *p = pg_array; *p; p++) {
		if (*p == '{' || *p == '"')
			continue;
		if (*p == ',' || *p == '}') {
			name[n] = '\0';
			if (n > 0)
				bits |= lookup(name);
			n = 0;
		} else if (n + 1 < sizeof name) {
			name[n++] = *p;
		}
	}
	return bits;
}

/* Borrows pg_array. */
uint32_t policy_roles_from_array(const char *pg_array)
{
	return policy_bits_from_array(pg_array, policy_role_bit);
}

/* Borrows pg_array. */
uint32_t policy_scopes_from_array(const char *pg_array)
{
	return policy_bits_from_array(pg_array, policy_scope_bit);
}

bool policy_has_role(uint32_t roles, uint32_t want)
{
	return (roles & want) != 0;
}

bool policy_allows(const char *action, enum policy_principal who, uint32_t grants)
{
	const struct policy_action *a = policy_find(action);
	if (a == NULL)
		return false;
	if (a->flags & POLICY_PUBLIC)
		return true;
	return (grants & (who == POLICY_CLIENT ? a->scopes : a->roles)) != 0;
}

/* A client never passes a staff-only action: its scopes are checked against
 * the action's scopes column, its roles (none) never count. */
int policy_authorize(struct http_req *req)
{
	const struct policy_action *a = policy_find(req->route->action);
	if (a != NULL && (a->flags & POLICY_PUBLIC))
		return 0;
	const struct http_principal *pr = &req->principal;
	if (a != NULL && pr->authenticated &&
	    policy_allows(a->name, pr->client ? POLICY_CLIENT : POLICY_STAFF,
	                  pr->client ? pr->scopes : pr->roles)) {
		if (!pr->client && !(a->flags & POLICY_ENROLMENT) &&
		    strcmp(pr->second_factor, "enrolment_required") == 0) {
			http_reply_problem(req, PROBLEM_SECOND_FACTOR_ENROLMENT, NULL);
			return 1;
		}
		return 0;
	}
	http_reply_problem(req, PROBLEM_FORBIDDEN, NULL);
	return 1;
}
