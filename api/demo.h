/* `cartella demo`: loads a small, realistic Ambito through the API's own
 * handlers (same validation, encryption and storage as a client's calls). */
#ifndef CARTELLA_DEMO_H
#define CARTELLA_DEMO_H

/* Loads demo data into the Comuni that have none yet. The router, hooks,
 * database and keyring must be set up. Returns the exit status. */
int demo_run(int argc, char **argv);

#endif
