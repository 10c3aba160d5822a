/* Idempotency-Key on POST (DESIGN §6): the first answer to a key is kept
 * (encrypted: it may hold personal data) and given again to a retry with the
 * same body; the same key with another body is refused with 422. Keys are
 * per user and tenant and expire after 24 hours. */
#ifndef CARTELLA_IDEMPOTENCY_H
#define CARTELLA_IDEMPOTENCY_H

struct http_req;

/* http before_handler hook. */
int idempotency_before(struct http_req *req);

/* http after_handler hook. */
int idempotency_after(struct http_req *req);

#endif
