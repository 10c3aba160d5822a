/* Where the second factor lives: user_totp (the secret, encrypted with the
 * home tenant's data key, and the last accepted step) and user_recovery_code
 * (keyed hashes). Every function runs in the caller's transaction with the
 * account's HOME tenant as context (row-level security keys both tables on
 * it) and returns a db_rc or one of the positive TOTP_* results below. */
#ifndef CARTELLA_TOTP_STORE_H
#define CARTELLA_TOTP_STORE_H

#include "auth/totp.h"

#include <stdbool.h>

struct arena;

#define TOTP_REFUSED  2 /* wrong code, replayed step, unknown or used recovery code */
#define TOTP_CONFLICT 3 /* begin: already active; confirm: nothing pending */

/* How a login passed the second factor. */
enum totp_factor {
	TOTP_FACTOR_NOT_ENROLLED, /* no active factor: nothing was checked */
	TOTP_FACTOR_CODE,
	TOTP_FACTOR_RECOVERY,
};

/* Sets *active when the account has a confirmed second factor. */
int totp_store_active(struct arena *a, const char *home, const char *user, bool *active);

/* Starts (or restarts) enrolment: a fresh random secret, stored encrypted as
 * pending, replacing a pending one. Writes the secret into secret (caller-
 * owned, TOTP_SECRET_LEN bytes; the caller wipes it). TOTP_CONFLICT when a
 * confirmed factor exists. */
int totp_store_begin(struct arena *a, const char *home, const char *user,
                     unsigned char secret[TOTP_SECRET_LEN]);

/* Confirms the pending enrolment with a current code (window ±1): activates
 * it, records the code's step as used, replaces the recovery codes with
 * TOTP_RECOVERY_COUNT fresh ones written into codes (caller-owned, shown
 * once). TOTP_REFUSED for a wrong code, TOTP_CONFLICT when nothing pends. */
int totp_store_confirm(struct arena *a, const char *home, const char *user, const char *code,
                       char codes[TOTP_RECOVERY_COUNT][TOTP_RECOVERY_SHOWN]);

/* The second factor of a login whose password was right: with an active
 * factor, exactly one of code / recovery (borrowed, may be NULL) must be
 * valid, and is then used up (the step recorded, the recovery code marked).
 * Sets *factor. TOTP_REFUSED when missing, wrong or replayed. */
int totp_store_login(struct arena *a, const char *home, const char *user, const char *code,
                     const char *recovery, enum totp_factor *factor);

/* Replaces the account's recovery codes with TOTP_RECOVERY_COUNT fresh ones,
 * written into codes (caller-owned, shown once). */
int totp_store_recovery_new(struct arena *a, const char *home, const char *user,
                            char codes[TOTP_RECOVERY_COUNT][TOTP_RECOVERY_SHOWN]);

/* Activates a pending enrolment without a code (the command line's
 * totp-enrol, for accounts set up by an operator). TOTP_CONFLICT when nothing
 * pends. */
int totp_store_activate(struct arena *a, const char *home, const char *user);

/* Deletes the account's second factor and recovery codes (nothing to delete
 * is not an error). */
int totp_store_reset(struct arena *a, const char *home, const char *user);

#endif
