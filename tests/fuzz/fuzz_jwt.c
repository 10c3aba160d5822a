/* libFuzzer target: PDND vouchers (auth/jwt.c, auth/pdnd.c) against a fixed
 * JWKS and e-service configuration (tests/fuzz/keys/, a throw-away test key
 * that protects nothing). The first byte picks the mode:
 *   even  the rest is the token as sent after "Bearer ";
 *   odd   the rest is a JOSE header and a payload (JSON texts separated by a
 *         newline) that the target signs with the test key (RS256), so the
 *         fuzzer reaches the claim checks behind the signature.
 * Each token goes through jwt_verify and through pdnd_authenticate on a
 * request with that Authorization header (no database: an accepted voucher
 * meets DB_UNAVAILABLE when its tenant is looked up).
 *
 * Checked: jwt_verify either refuses with a reason and zeroed claims or
 * accepts claims that meet the expectations (issuer, audience, time window,
 * purpose and consumer organisation); pdnd_authenticate answers 401 (bare)
 * or 503, never anything else, and never without an answer. */
#include "auth/jwt.h"
#include "auth/pdnd.h"
#include "server/arena.h"
#include "server/http.h"
#include "server/util.h"
#include "tests/fuzz/fuzz_common.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>
#include <time.h>

#define ISSUER   "uat.interop.pagopa.it"
#define AUDIENCE "https://cartella.example.it/waas/v1"
#define TOKMAX   (JWT_TOKEN_MAX + 1024)

static struct jwt_keyset *keyset;
static EVP_PKEY *signing_key;

/* Loads the test keys and the PDND configuration once. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_setup();
	const char *dir = getenv("CARTELLA_FUZZ_KEYS");
	if (dir == NULL)
		dir = "tests/fuzz/keys";
	char path[512], err[512];
	snprintf(path, sizeof path, "%s/fuzz-jwks.json", dir);
	FUZZ_ASSERT(jwt_keyset_load(path, &keyset, err, sizeof err) == 0);
	snprintf(path, sizeof path, "%s/fuzz-pdnd.json", dir);
	if (pdnd_load(path, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_jwt: %s\n", err);
		abort();
	}
	snprintf(path, sizeof path, "%s/fuzz-signing-key.pem", dir);
	FILE *f = fopen(path, "r");
	FUZZ_ASSERT(f != NULL);
	signing_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	FUZZ_ASSERT(signing_key != NULL);
	return 0;
}

/* Writes header.payload.signature (RS256 with the test key) into out. */
static bool sign(const char *hdr, size_t hl, const char *pay, size_t pl, char *out, size_t outn)
{
	if ((hl + pl) / 3 * 4 + 8 + 400 > outn)
		return false;
	size_t n = util_b64url_encode((const unsigned char *)hdr, hl, out, outn);
	out[n++] = '.';
	n += util_b64url_encode((const unsigned char *)pay, pl, out + n, outn - n);
	unsigned char sig[512];
	size_t siglen = sizeof sig;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	bool ok = m != NULL && EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, signing_key) == 1 &&
	          EVP_DigestSign(m, sig, &siglen, (unsigned char *)out, n) == 1;
	EVP_MD_CTX_free(m);
	FUZZ_ASSERT(ok);
	out[n++] = '.';
	util_b64url_encode(sig, siglen, out + n, outn - n);
	return true;
}

/* jwt_verify's promise for token at now. */
static void check_verify(const char *token, time_t now)
{
	static const struct jwt_expect want = {
	    .issuer = ISSUER,
	    .audience = AUDIENCE,
	    .purpose_id = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b",
	    .consumer_org = "c-org-1",
	    .producer_id = "p-fuzz",
	    .eservice_id = "e-fuzz",
	};
	static const struct jwt_claims zero;
	struct jwt_claims c;
	char why[128] = "";
	if (jwt_verify(keyset, token, &want, now, &c, why, sizeof why) != 0) {
		FUZZ_ASSERT(why[0] != '\0' && memcmp(&c, &zero, sizeof c) == 0);
		return;
	}
	FUZZ_ASSERT(strcmp(c.iss, ISSUER) == 0);
	FUZZ_ASSERT(strcmp(c.purpose_id, want.purpose_id) == 0);
	FUZZ_ASSERT(strcmp(c.consumer_org, want.consumer_org) == 0);
	FUZZ_ASSERT(c.exp + JWT_LEEWAY > (long long)now);
	FUZZ_ASSERT(c.iat - JWT_LEEWAY <= (long long)now);
	FUZZ_ASSERT(c.consumer[0] != '\0');
}

/* pdnd_authenticate's promise: a bare 401, or 503 (no database). */
static void check_pdnd(const char *token)
{
	struct arena *a = arena_new();
	FUZZ_ASSERT(a != NULL);
	struct http_req *req = arena_alloc(a, sizeof *req);
	char *auth = arena_printf(a, "Bearer %s", token);
	FUZZ_ASSERT(req != NULL && auth != NULL);
	const struct http_header hdrs[] = {{"Authorization", auth}, {NULL, NULL}};
	req->arena = a;
	req->method = "GET";
	req->local_headers = hdrs;
	util_strlcpy(req->request_id, "fuzz-jwt-00000001", sizeof req->request_id);
	int rc = pdnd_authenticate(req);
	FUZZ_ASSERT(rc == 1);
	FUZZ_ASSERT(req->status == 401 || req->status == 503);
	FUZZ_ASSERT(!req->principal.authenticated);
	arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char token[TOKMAX];
	if (size < 1 || size > JWT_TOKEN_MAX)
		return 0;
	const char *text = (const char *)data + 1;
	size_t n = size - 1;
	if (memchr(text, '\0', n) != NULL)
		return 0;
	if (data[0] % 2 == 0) {
		memcpy(token, text, n);
		token[n] = '\0';
	} else {
		const char *nl = memchr(text, '\n', n);
		if (nl == NULL)
			return 0;
		size_t hl = (size_t)(nl - text);
		if (!sign(text, hl, nl + 1, n - hl - 1, token, sizeof token))
			return 0;
	}
	time_t now = time(NULL);
	check_verify(token, now);
	check_pdnd(token);
	return 0;
}
