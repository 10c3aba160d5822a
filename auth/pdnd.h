/* PDND Interoperabilità vouchers as principals. The e-services this server
 * offers on PDND are configured in a JSON file named by CARTELLA_PDND_CONFIG
 * (docs/operations.md): for each, its eserviceId, audience, issuer, the JWKS
 * file of PDND's keys, optionally our producerId, and the purposes allowed,
 * each mapped to the consumer organisation it belongs to, a tenant and the
 * scopes it grants. An `Authorization: Bearer` JWT verified by auth/jwt.c
 * against one of them becomes a client principal of that tenant with those
 * scopes; anything else is a bare 401. */
#ifndef CARTELLA_PDND_H
#define CARTELLA_PDND_H

#include <stddef.h>

struct http_req;

#define PDND_CONFIG_MAX    (256 * 1024) /* bytes of the configuration file */
#define PDND_MAX_ESERVICES 16
#define PDND_MAX_PURPOSES  256

/* Loads the configuration at path (JWKS paths relative to its directory).
 * Call once, before the server's threads start. Returns 0, or -1 with the
 * reason (naming the file and the place) in err; nothing is kept then. */
int pdnd_load(const char *path, char *err, size_t errn);

/* Forgets the configuration (frees the keys). */
void pdnd_free(void);

/* Authenticates "Authorization: Bearer <JWT>": sets the client principal
 * and the transaction's tenant context and returns 0, or returns 1 after
 * replying 401 (no detail; the reason goes to the log) or 503. */
int pdnd_authenticate(struct http_req *req);

#endif
