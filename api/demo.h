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

/* `cartella demo [ARGS]`: parses the arguments (help, usage errors: exit 2
 * before anything is touched), then, when setup (the router, hooks,
 * database and keyring) succeeds, loads the small demo into the Comuni that
 * have none yet, or the regional-scale data. Returns the exit status. */
int demo_main(int argc, char **argv, int (*setup)(void));

#endif
