/* `cartella demo`: loads a small, realistic Ambito through the API's own
 * handlers (same validation, encryption and storage as a client's calls), or
 * with --persons N regional-scale synthetic data in bulk (api/demo_scale.h). */
#ifndef CARTELLA_DEMO_H
#define CARTELLA_DEMO_H

#include "server/util.h"

struct arena;

/* The account the demo acts as, created once: disabled, so nobody can log in
 * with it, with the case roles (social_worker, administrative,
 * service_manager) in tenant_id, inside the current transaction (whose
 * tenant context is tenant_id). Writes its id into id. Returns a db_rc. */
int demo_account(struct arena *a, const char *tenant_id, char id[UTIL_UUID_LEN + 1]);

/* Loads the small demo into the Comuni that have none yet (o->persons 0),
 * or the regional-scale data (api/demo_scale.h). The router, hooks, database
 * and keyring must be set up. Returns the exit status. */
struct demo_opts;
int demo_load(const struct demo_opts *o);

#endif
