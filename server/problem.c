#include "server/problem.h"

#include <stdio.h>

static const struct problem_def catalogue[PROBLEM__COUNT] = {
    [PROBLEM_OK_STATUS] = {200, "ok", "OK"},
    [PROBLEM_BAD_REQUEST] = {400, "bad-request", "Richiesta non valida"},
    [PROBLEM_MALFORMED_JSON] = {400, "malformed-json",
                                "Il corpo della richiesta non è JSON valido"},
    [PROBLEM_JSON_TOO_DEEP] = {400, "json-too-deep", "Il JSON è annidato troppo in profondità"},
    [PROBLEM_VALIDATION] = {400, "validation", "Dati non validi"},
    [PROBLEM_BAD_PARAMETER] = {400, "bad-parameter", "Parametro non valido"},
    [PROBLEM_UNAUTHORIZED] = {401, "unauthorized", "Autenticazione richiesta"},
    [PROBLEM_INVALID_CREDENTIALS] = {401, "invalid-credentials", "Credenziali non valide"},
    [PROBLEM_FORBIDDEN] = {403, "forbidden", "Operazione non consentita"},
    [PROBLEM_NO_ROLE_IN_TENANT] = {403, "no-role-in-tenant",
                                   "Nessun ruolo assegnato per questo ente"},
    [PROBLEM_SECOND_FACTOR_ENROLMENT] = {403, "second-factor-enrolment-required",
                                         "Registrazione del secondo fattore richiesta"},
    [PROBLEM_NOT_FOUND] = {404, "not-found", "Risorsa non trovata"},
    [PROBLEM_METHOD_NOT_ALLOWED] = {405, "method-not-allowed", "Metodo non consentito"},
    [PROBLEM_CONFLICT] = {409, "conflict", "Conflitto con una risorsa esistente"},
    [PROBLEM_LEGAL_HOLD] = {409, "legal-hold", "Dati sottoposti a vincolo di conservazione"},
    [PROBLEM_RETENTION] = {409, "retention-period", "Periodo di conservazione in corso"},
    [PROBLEM_ALREADY_ERASED] = {409, "already-erased", "Persona già cancellata"},
    [PROBLEM_PRECONDITION_FAILED] = {412, "precondition-failed",
                                     "La risorsa è stata modificata nel frattempo"},
    [PROBLEM_GONE] = {410, "gone", "Risorsa non più disponibile"},
    [PROBLEM_PAYLOAD_TOO_LARGE] = {413, "payload-too-large",
                                   "Il corpo della richiesta è troppo grande"},
    [PROBLEM_URI_TOO_LONG] = {414, "uri-too-long", "L'indirizzo della richiesta è troppo lungo"},
    [PROBLEM_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported-media-type",
                                        "Tipo di contenuto non supportato"},
    [PROBLEM_UNPROCESSABLE] = {422, "unprocessable", "Richiesta non elaborabile"},
    [PROBLEM_PRECONDITION_REQUIRED] = {428, "precondition-required",
                                       "Intestazione If-Match obbligatoria"},
    [PROBLEM_TOO_MANY_REQUESTS] = {429, "too-many-requests", "Troppe richieste"},
    [PROBLEM_HEADERS_TOO_LARGE] = {431, "headers-too-large",
                                   "Le intestazioni della richiesta sono troppo grandi"},
    [PROBLEM_INTERNAL] = {500, "internal", "Errore interno"},
    [PROBLEM_UNAVAILABLE] = {503, "unavailable", "Servizio temporaneamente non disponibile"},
};

const struct problem_def *problem_get(enum problem_id id)
{
	if ((int)id < 0 || id >= PROBLEM__COUNT)
		id = PROBLEM_INTERNAL;
	return &catalogue[id];
}

/* Writes into out (caller-owned, n bytes). */
void problem_type_uri(enum problem_id id, char *out, unsigned n)
{
	snprintf(out, n, "/problems/%s", problem_get(id)->slug);
}
