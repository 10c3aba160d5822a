/* The seal of the audit trail (DESIGN §5.5; schema/011_audit_seal.sql): a
 * keyed hash chain per tenant over audit_event, in sealing order, written
 * asynchronously by a background thread and checked by audit_verify_tenant
 * (`cartella audit verify`, GET /api/v1/audit/verify). The canonical form
 * of a row and the key are described in docs/security.md. */
#ifndef CARTELLA_AUDIT_SEAL_H
#define CARTELLA_AUDIT_SEAL_H

#include <stdbool.h>

struct arena;

#define AUDIT_SEAL_BATCH 1000

/* Seals up to max_rows unsealed events of the tenant, oldest first, in the
 * current transaction (whose tenant context is the tenant's): locks the
 * tenant's chain head, chains each row, advances the head. *sealed (may be
 * NULL) is the number of rows sealed. Borrows tenant_id; allocations are
 * owned by arena a. Returns DB_OK or a db_rc. */
int audit_seal_tenant(struct arena *a, const char *tenant_id, int max_rows, int *sealed);

/* What audit_verify_tenant found. broken_seq is 0 when ok; broken_event_id
 * is the id of the row at broken_seq, 0 when no row holds that position. */
struct audit_verify_result {
	bool ok;
	long long sealed;   /* rows in the chain */
	long long unsealed; /* rows not sealed yet */
	long long broken_seq;
	long long broken_event_id;
};

/* Recomputes the tenant's chain from seq 1 in the current transaction
 * (tenant context set) and fills *res. Borrows tenant_id; allocations are
 * owned by arena a (rows are read in batches with arenas of their own).
 * Returns DB_OK (whatever the verdict) or a db_rc. */
int audit_verify_tenant(struct arena *a, const char *tenant_id, struct audit_verify_result *res);

/* Starts the sealer thread: every interval_ms it visits every tenant and
 * seals its new events, on its own database connection. Returns 0 or -1. */
int audit_seal_start(int interval_ms);

/* Stops the sealer thread and waits for it (a no-op when not started). */
void audit_seal_stop(void);

#endif
