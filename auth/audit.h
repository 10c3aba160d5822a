/* The audit trail (DESIGN §5.5): the http hook that writes one audit_event
 * per object a request read or wrote, or one for the request itself, and
 * one per denied access (403/404). The rows hold ids only. */
#ifndef CARTELLA_AUDIT_H
#define CARTELLA_AUDIT_H

struct http_req;

/* http hook (struct http_hooks.audit): inserts the request's events, with
 * one statement, in the current transaction, whose tenant context is set.
 * Borrows req. Returns DB_OK or a db_rc. */
int audit_record(struct http_req *req);

#endif
