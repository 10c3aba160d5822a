/* The error catalogue: every error the API can answer, with its HTTP status,
 * a stable type slug (the problem "type" is "/problems/<slug>") and an
 * Italian title shown to end users. Responses are RFC 7807 problem+json. */
#ifndef CARTELLA_PROBLEM_H
#define CARTELLA_PROBLEM_H

enum problem_id {
	PROBLEM_OK_STATUS, /* /status when healthy (ModI: problem+json, 200) */
	PROBLEM_BAD_REQUEST,
	PROBLEM_MALFORMED_JSON,
	PROBLEM_JSON_TOO_DEEP,
	PROBLEM_VALIDATION,
	PROBLEM_BAD_PARAMETER,
	PROBLEM_UNAUTHORIZED,
	PROBLEM_INVALID_CREDENTIALS,
	PROBLEM_FORBIDDEN,
	PROBLEM_NO_ROLE_IN_TENANT,
	PROBLEM_SECOND_FACTOR_ENROLMENT,
	PROBLEM_NOT_FOUND,
	PROBLEM_METHOD_NOT_ALLOWED,
	PROBLEM_CONFLICT,
	PROBLEM_LEGAL_HOLD,
	PROBLEM_RETENTION,
	PROBLEM_ALREADY_ERASED,
	PROBLEM_PRECONDITION_FAILED,
	PROBLEM_GONE,
	PROBLEM_PAYLOAD_TOO_LARGE,
	PROBLEM_URI_TOO_LONG,
	PROBLEM_UNSUPPORTED_MEDIA_TYPE,
	PROBLEM_UNPROCESSABLE,
	PROBLEM_PRECONDITION_REQUIRED,
	PROBLEM_TOO_MANY_REQUESTS,
	PROBLEM_HEADERS_TOO_LARGE,
	PROBLEM_INTERNAL,
	PROBLEM_UNAVAILABLE,
	PROBLEM__COUNT
};

struct problem_def {
	int status;        /* HTTP status */
	const char *slug;  /* stable, kebab-case */
	const char *title; /* Italian, shown to users */
};

/* Returns the catalogue entry for id (static storage). */
const struct problem_def *problem_get(enum problem_id id);

/* Writes "/problems/<slug>" for id into out (size n). */
void problem_type_uri(enum problem_id id, char *out, unsigned n);

#endif
