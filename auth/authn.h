/* Authentication: picks the scheme a request presents and hands it to the
 * module that checks it: "Basic" → an API client (auth/client.c); "Bearer"
 * with a JWT (three dot-separated parts) → a PDND voucher (auth/pdnd.c);
 * "Bearer" with an opaque token → a staff session (auth/session.c). */
#ifndef CARTELLA_AUTHN_H
#define CARTELLA_AUTHN_H

struct http_req;

/* http hook (struct http_hooks.authenticate). Returns 0 with the principal
 * set, or 1 after replying (401, 429, 503). */
int authn_authenticate(struct http_req *req);

#endif
