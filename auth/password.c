#include "auth/password.h"
#include "server/util.h"

#include <semaphore.h>
#include <string.h>

#define PW_OPS crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
#define PW_MEM crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE

static sem_t hash_slots;
static char dummy_hash[PASSWORD_HASH_MAX];

int password_init(void)
{
	if (sodium_init() < 0)
		return -1;
	if (sem_init(&hash_slots, 0, (unsigned)util_ncpu()) != 0)
		return -1;
	/* A hash of a random password: verifying against it always fails, in
	 * the same time a real verification takes. */
	unsigned char rnd[32];
	char pw[65];
	randombytes_buf(rnd, sizeof rnd);
	util_hex(rnd, sizeof rnd, pw);
	return password_hash(pw, dummy_hash);
}

/* Borrows password; writes out. */
int password_hash(const char *password, char out[PASSWORD_HASH_MAX])
{
	sem_wait(&hash_slots);
	int rc = crypto_pwhash_str_alg(out, password, strlen(password), PW_OPS, PW_MEM,
	                               crypto_pwhash_ALG_ARGON2ID13);
	sem_post(&hash_slots);
	return rc == 0 ? 0 : -1;
}

/* Borrows both. */
bool password_verify(const char *hash, const char *password)
{
	const char *h = hash ? hash : dummy_hash;
	sem_wait(&hash_slots);
	int rc = crypto_pwhash_str_verify(h, password, strlen(password));
	sem_post(&hash_slots);
	return hash != NULL && rc == 0;
}

bool password_needs_rehash(const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, PW_OPS, PW_MEM) != 0;
}

const char *password_policy_error(const char *password)
{
	size_t chars = 0, bytes = strlen(password);
	for (size_t i = 0; i < bytes; i++)
		if (((unsigned char)password[i] & 0xC0) != 0x80)
			chars++;
	if (chars < PASSWORD_MIN_CHARS)
		return "la password deve avere almeno 12 caratteri";
	if (bytes > PASSWORD_MAX_BYTES)
		return "la password è troppo lunga";
	return NULL;
}
