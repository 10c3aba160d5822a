/* PDND voucher verification: JWKS loading (RSA keys from n/e, small keys
 * refused) and jwt_verify against tokens signed here with a fresh RSA-2048
 * key: one valid voucher, then every refusal with its own reason. */
#include "auth/jwt.h"
#include "server/util.h"
#include "tests/unit/check.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW     ((time_t)1767225600) /* 2026-01-01T00:00:00Z */
#define ISS     "uat.interop.pagopa.it"
#define AUD     "https://cartella.example.it/waas/v1"
#define PURPOSE "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
#define CLIENT  "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"
#define KID     "pdnd-key-1"
#define TOKMAX  (16 * 1024)

static char tmpdir[] = "/tmp/cartella-test-jwt-XXXXXX";
static char written[16][300]; /* files to remove at the end */
static size_t nwritten;

static const struct jwt_expect want = {
    .issuer = ISS,
    .audience = AUD,
    .purpose_id = PURPOSE,
    .consumer_id = CLIENT,
    .max_age = 0,
};

/* Returns a new RSA key of bits bits (caller-owned), or NULL. */
static EVP_PKEY *gen_rsa(unsigned bits)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) != 1 ||
	    EVP_PKEY_keygen(ctx, &pkey) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Writes the base64url of the big-endian bytes of the RSA parameter name of
 * pkey into out (outn bytes); the raw bytes go to raw/rawlen when raw is set.
 * Returns 0 or -1. */
static int rsa_param_b64(EVP_PKEY *pkey, const char *name, char *out, size_t outn,
                         unsigned char *raw, size_t *rawlen)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1100];
	int rc = -1;
	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1 || BN_num_bytes(bn) > (int)sizeof buf)
		goto out;
	int n = BN_bn2bin(bn, buf);
	if (n <= 0)
		goto out;
	util_b64url_encode(buf, (size_t)n, out, outn);
	if (raw != NULL) {
		memcpy(raw, buf, (size_t)n);
		*rawlen = (size_t)n;
	}
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

/* Returns a new JWK object for the public half of pkey (caller-owned). */
static json_t *jwk_of(EVP_PKEY *pkey, const char *kid)
{
	char n[1500], e[32];
	if (rsa_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, n, sizeof n, NULL, NULL) != 0 ||
	    rsa_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, e, sizeof e, NULL, NULL) != 0)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "use", "sig",
	                 "alg", "RS256", "n", n, "e", e);
}

/* Writes {"keys": keys} (taken) to tmpdir/name; returns the path (static). */
static const char *write_jwks(const char *name, json_t *keys)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	if (nwritten < sizeof written / sizeof written[0])
		snprintf(written[nwritten++], sizeof written[0], "%s", path);
	json_t *root = json_pack("{s:o}", "keys", keys);
	CHECK(root != NULL && json_dump_file(root, path, JSON_COMPACT) == 0);
	json_decref(root);
	return path;
}

enum sign_mode { SIGN_RS256, SIGN_NONE, SIGN_HS256 };

/* Writes the compact JWS of header (JSON text) and payload (taken) into out,
 * signed per mode with pkey or the HMAC key hkey. */
static void make_token(const char *header, json_t *payload, enum sign_mode mode, EVP_PKEY *pkey,
                       const unsigned char *hkey, size_t hkeylen, char *out, size_t outn)
{
	char *pay = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	out[0] = '\0';
	if (pay == NULL)
		return;
	size_t hl = strlen(header), pl = strlen(pay);
	if ((hl + pl) / 3 * 4 + 16 > outn) {
		free(pay);
		return;
	}
	size_t n = util_b64url_encode((const unsigned char *)header, hl, out, outn);
	out[n++] = '.';
	n += util_b64url_encode((const unsigned char *)pay, pl, out + n, outn - n);
	free(pay);
	unsigned char sig[1024];
	size_t siglen = 0;
	if (mode == SIGN_RS256) {
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		siglen = sizeof sig;
		CHECK(m != NULL && EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		      EVP_DigestSign(m, sig, &siglen, (unsigned char *)out, n) == 1);
		EVP_MD_CTX_free(m);
	} else if (mode == SIGN_HS256) {
		unsigned int ml = 0;
		CHECK(HMAC(EVP_sha256(), hkey, (int)hkeylen, (unsigned char *)out, n, sig, &ml) !=
		      NULL);
		siglen = ml;
	}
	out[n++] = '.';
	out[n] = '\0';
	if (siglen > 0)
		util_b64url_encode(sig, siglen, out + n, outn - n);
}

/* Returns a new payload of a valid voucher at NOW (caller-owned). */
static json_t *claims(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "iss", ISS,
	                 "aud", AUD, "sub", CLIENT, "client_id", CLIENT, "purposeId", PURPOSE,
	                 "jti", "2c1e6c4e-0a5b-4b7f-9d1f-3e2a1b0c9d8e", "iat", (json_int_t)NOW - 10,
	                 "nbf", (json_int_t)NOW - 10, "exp", (json_int_t)NOW + 600, "producerId",
	                 "p-1", "eserviceId", "e-1");
}

/* Returns claims() with key set to v (taken), or deleted when v is NULL. */
static json_t *claims_with(const char *key, json_t *v)
{
	json_t *c = claims();
	if (v == NULL)
		json_object_del(c, key);
	else
		json_object_set_new(c, key, v);
	return c;
}

#define HDR "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}"

static struct jwt_keyset *ks;
static EVP_PKEY *key, *other;

/* Checks that token is refused with exactly reason, claims left zeroed. */
static void refused(const char *token, const struct jwt_expect *w, const char *reason, int line)
{
	struct jwt_claims c;
	char why[128] = "";
	memset(&c, 0x5a, sizeof c);
	int rc = jwt_verify(ks, token, w, NOW, &c, why, sizeof why);
	static const struct jwt_claims zero;
	if (rc != -1 || strcmp(why, reason) != 0 || memcmp(&c, &zero, sizeof c) != 0) {
		fprintf(stderr, "line %d: want \"%s\", got rc %d \"%s\"\n", line, reason, rc, why);
		check_failures++;
	}
}
#define REFUSED(tok, reason) refused(tok, &want, reason, __LINE__)

/* Signs payload (taken) with header and the good key, then expects reason. */
static void refused_claims(const char *header, json_t *payload, const char *reason, int line)
{
	static char tok[TOKMAX];
	make_token(header, payload, SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	refused(tok, &want, reason, line);
}
#define REFUSED_CLAIMS(p, reason) refused_claims(HDR, p, reason, __LINE__)

static void test_keyset(void)
{
	char err[512];
	struct jwt_keyset *k = NULL;

	/* A 1024-bit key refuses the file. */
	EVP_PKEY *small = gen_rsa(1024);
	CHECK(small != NULL);
	const char *p = write_jwks("small.json", json_pack("[o]", jwk_of(small, "small")));
	CHECK(jwt_keyset_load(p, &k, err, sizeof err) == -1 && k == NULL);
	CHECK(strstr(err, "1024 bits") != NULL && strstr(err, "at least 2048") != NULL);
	EVP_PKEY_free(small);

	/* Other key types are skipped; a file with none usable is refused. */
	json_t *ec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "kid", "ec", "crv",
	                       "P-256", "x", "AA", "y", "AA");
	json_t *enc = jwk_of(key, "enc");
	json_object_set_new(enc, "use", json_string("enc"));
	p = write_jwks("others.json", json_pack("[o, o]", ec, enc));
	CHECK(jwt_keyset_load(p, &k, err, sizeof err) == -1);
	CHECK(strstr(err, "no RSA signing key") != NULL);

	/* Repeated kid, missing kid, bad n. */
	p = write_jwks("dup.json", json_pack("[o, o]", jwk_of(key, "a"), jwk_of(other, "a")));
	CHECK(jwt_keyset_load(p, &k, err, sizeof err) == -1 && strstr(err, "repeated") != NULL);
	json_t *nokid = jwk_of(key, "x");
	json_object_del(nokid, "kid");
	p = write_jwks("nokid.json", json_pack("[o]", nokid));
	CHECK(jwt_keyset_load(p, &k, err, sizeof err) == -1 && strstr(err, "kid") != NULL);
	json_t *badn = jwk_of(key, "x");
	json_object_set_new(badn, "n", json_string("not+base64url/"));
	p = write_jwks("badn.json", json_pack("[o]", badn));
	CHECK(jwt_keyset_load(p, &k, err, sizeof err) == -1 && strstr(err, "n is not") != NULL);

	/* Missing file, not JSON. */
	char missing[300];
	snprintf(missing, sizeof missing, "%s/none.json", tmpdir);
	CHECK(jwt_keyset_load(missing, &k, err, sizeof err) == -1 &&
	      strstr(err, "cannot open") != NULL);
	FILE *f = fopen(missing, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("{\"keys\": [", f);
		fclose(f);
	}
	CHECK(jwt_keyset_load(missing, &k, err, sizeof err) == -1 && k == NULL);
	unlink(missing);

	/* Mixed file: the EC key is skipped, the RSA key kept. */
	ec = json_pack("{s:s, s:s}", "kty", "EC", "kid", "ec");
	p = write_jwks("mixed.json", json_pack("[o, o]", ec, jwk_of(key, "k")));
	CHECK(jwt_keyset_load(p, &k, err, sizeof err) == 0 && jwt_keyset_count(k) == 1);
	jwt_keyset_free(k);
}

static void test_valid(void)
{
	static char tok[TOKMAX];
	struct jwt_claims c;
	char why[128];

	make_token(HDR, claims(), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	CHECK(jwt_verify(ks, tok, &want, NOW, &c, why, sizeof why) == 0);
	CHECK(strcmp(c.iss, ISS) == 0);
	CHECK(strcmp(c.consumer, CLIENT) == 0);
	CHECK(strcmp(c.purpose_id, PURPOSE) == 0);
	CHECK(strcmp(c.jti, "2c1e6c4e-0a5b-4b7f-9d1f-3e2a1b0c9d8e") == 0);
	CHECK(c.iat == (long long)NOW - 10 && c.exp == (long long)NOW + 600);

	/* Without the optional expectations; inside the leeway at both ends. */
	struct jwt_expect loose = {.issuer = ISS, .audience = AUD};
	CHECK(jwt_verify(ks, tok, &loose, NOW + 600 + 59, &c, why, sizeof why) == 0);
	CHECK(jwt_verify(ks, tok, &loose, NOW - 10 - 60, &c, why, sizeof why) == 0);
	CHECK(jwt_verify(ks, tok, &loose, NOW + 600 + 60, &c, why, sizeof why) == -1);

	/* typ variants, aud as an array, sub alone as the consumer. */
	make_token("{\"alg\":\"RS256\",\"typ\":\"application/AT+JWT\",\"kid\":\"" KID "\"}",
	           claims_with("aud", json_pack("[s, s]", "other", AUD)), SIGN_RS256, key, NULL, 0,
	           tok, sizeof tok);
	CHECK(jwt_verify(ks, tok, &want, NOW, &c, why, sizeof why) == 0);
	make_token(HDR, claims_with("client_id", NULL), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	CHECK(jwt_verify(ks, tok, &want, NOW, &c, why, sizeof why) == 0);
	CHECK(strcmp(c.consumer, CLIENT) == 0);

	/* No nbf is fine. */
	make_token(HDR, claims_with("nbf", NULL), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	CHECK(jwt_verify(ks, tok, &want, NOW, &c, why, sizeof why) == 0);

	/* max_age. */
	struct jwt_expect aged = want;
	aged.max_age = 300;
	make_token(HDR, claims(), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	CHECK(jwt_verify(ks, tok, &aged, NOW + 300, &c, why, sizeof why) == 0);
}

static void test_header_refusals(void)
{
	static char tok[TOKMAX], tok2[TOKMAX];
	unsigned char n[1100];
	size_t nlen = 0;
	char n64[1500];

	/* alg none, with an empty signature. */
	make_token("{\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}", claims(), SIGN_NONE,
	           NULL, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "alg none refused");
	make_token("{\"alg\":\"None\",\"typ\":\"at+jwt\"}", claims(), SIGN_NONE, NULL, NULL, 0, tok,
	           sizeof tok);
	REFUSED(tok, "alg none refused");

	/* HS256 keyed with the public modulus: the key confusion attack. */
	CHECK(rsa_param_b64(key, OSSL_PKEY_PARAM_RSA_N, n64, sizeof n64, n, &nlen) == 0);
	make_token("{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}", claims(),
	           SIGN_HS256, NULL, n, nlen, tok, sizeof tok);
	REFUSED(tok, "alg HS* (HMAC) refused");

	/* Other algorithms, missing alg. */
	make_token("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}", claims(),
	           SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "alg is not RS256");
	make_token("{\"alg\":\"RS512\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}", claims(),
	           SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "alg is not RS256");
	make_token("{\"alg\":\"rs256\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}", claims(),
	           SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "alg is not RS256");
	make_token("{\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}", claims(), SIGN_RS256, key, NULL, 0,
	           tok, sizeof tok);
	REFUSED(tok, "alg missing");

	/* A different RSA key under the same kid; an unknown kid; no kid. */
	make_token(HDR, claims(), SIGN_RS256, other, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "signature does not verify");
	make_token("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"someone-else\"}", claims(),
	           SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "kid not in keyset");
	make_token("{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", claims(), SIGN_RS256, key, NULL, 0,
	           tok, sizeof tok);
	REFUSED(tok, "kid missing");

	/* typ. */
	make_token("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" KID "\"}", claims(), SIGN_RS256,
	           key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "typ is not at+jwt");
	make_token("{\"alg\":\"RS256\",\"kid\":\"" KID "\"}", claims(), SIGN_RS256, key, NULL, 0,
	           tok, sizeof tok);
	REFUSED(tok, "typ missing");

	/* crit, duplicate members, not an object. */
	make_token("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\",\"crit\":[\"x\"]}",
	           claims(), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "crit header not supported");
	make_token("{\"alg\":\"RS256\",\"alg\":\"none\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}",
	           claims(), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "header is not a JSON object");
	make_token("[1]", claims(), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "header is not a JSON object");

	/* A tampered payload under the original signature. */
	make_token(HDR, claims(), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	make_token(HDR, claims_with("purposeId", json_string("another-purpose")), SIGN_RS256, key,
	           NULL, 0, tok2, sizeof tok2);
	char *s1 = strrchr(tok, '.'), *d2 = strrchr(tok2, '.');
	CHECK(s1 != NULL && d2 != NULL);
	if (s1 != NULL && d2 != NULL && strlen(s1) < sizeof tok2 - (size_t)(d2 - tok2)) {
		memcpy(d2, s1, strlen(s1) + 1); /* tok2's header.payload, tok's signature */
		REFUSED(tok2, "signature does not verify");
	}

	/* Truncated: signature cut, signature dropped, payload dropped. */
	size_t len = strlen(tok);
	memcpy(tok2, tok, len + 1);
	tok2[len - 1] = '\0'; /* 341 characters: 4k+1 decodes to nothing */
	REFUSED(tok2, "signature is not base64url");
	tok2[len - 2] = '\0'; /* 340 characters: 255 bytes */
	REFUSED(tok2, "signature length does not match the key");
	memcpy(tok2, tok, len + 1);
	*(strrchr(tok2, '.') + 1) = '\0';
	REFUSED(tok2, "signature missing");
	*strrchr(tok2, '.') = '\0';
	REFUSED(tok2, "token is not three dot-separated parts");
	REFUSED("", "token missing");
	REFUSED("a.b.c.d", "token is not three dot-separated parts");

	/* Garbage base64url in each part. */
	REFUSED("eyJ!!!.eyJ9.AAAA", "header is not base64url");
	REFUSED("eyJhbGciOiJSUzI1NiJ9=.eyJ9.AAAA", "header is not base64url");
	memcpy(tok2, tok, len + 1);
	*(strrchr(tok2, '.') + 1) = '*';
	REFUSED(tok2, "signature is not base64url");
	/* The payload is only decoded after the signature verifies. */
	char *p1 = strchr(tok, '.');
	CHECK(p1 != NULL);
	if (p1 != NULL) {
		memcpy(tok2, tok, len + 1);
		tok2[p1 - tok + 1] = '$';
		REFUSED(tok2, "signature does not verify");
	}

	/* Over 8 KiB, validly signed. */
	char pad[9 * 1024];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	make_token(HDR, claims_with("pad", json_string(pad)), SIGN_RS256, key, NULL, 0, tok,
	           sizeof tok);
	CHECK(strlen(tok) > 9 * 1024);
	REFUSED(tok, "token longer than 8192 bytes");
}

static void test_claim_refusals(void)
{
	REFUSED_CLAIMS(claims_with("aud", json_string("https://elsewhere.example/")),
	               "aud does not match");
	REFUSED_CLAIMS(claims_with("aud", json_pack("[s]", "x")), "aud does not match");
	REFUSED_CLAIMS(claims_with("aud", json_pack("[]")), "aud does not match");
	REFUSED_CLAIMS(claims_with("aud", json_integer(1)), "aud is neither a string nor an array");
	REFUSED_CLAIMS(claims_with("aud", NULL), "aud missing");
	REFUSED_CLAIMS(claims_with("iss", json_string("interop.pagopa.it")), "iss does not match");
	REFUSED_CLAIMS(claims_with("iss", NULL), "iss missing");
	REFUSED_CLAIMS(claims_with("iss", json_stringn(ISS "\0x", sizeof ISS + 1)),
	               "payload is not a JSON object"); /* jansson refuses \u0000 */
	REFUSED_CLAIMS(claims_with("exp", json_integer((json_int_t)NOW - 61)),
	               "token expired (exp)");
	REFUSED_CLAIMS(claims_with("exp", json_real(2e9)), "exp is not an integer NumericDate");
	REFUSED_CLAIMS(claims_with("exp", NULL), "exp missing");
	REFUSED_CLAIMS(claims_with("nbf", json_integer((json_int_t)NOW + 61)),
	               "token not yet valid (nbf in the future)");
	REFUSED_CLAIMS(claims_with("nbf", json_string("soon")),
	               "nbf is not an integer NumericDate");
	REFUSED_CLAIMS(claims_with("iat", json_integer((json_int_t)NOW + 61)), "iat in the future");
	REFUSED_CLAIMS(claims_with("iat", json_integer(-1)), "iat is not an integer NumericDate");
	REFUSED_CLAIMS(claims_with("iat", NULL), "iat missing");
	REFUSED_CLAIMS(claims_with("purposeId", NULL), "purposeId missing");
	REFUSED_CLAIMS(claims_with("purposeId", json_string("other")), "purposeId does not match");
	REFUSED_CLAIMS(claims_with("purposeId", json_string("")),
	               "purposeId is not a valid string");
	REFUSED_CLAIMS(claims_with("client_id", json_string("intruder")),
	               "client_id and sub differ");
	json_t *c = claims_with("client_id", NULL);
	json_object_del(c, "sub");
	REFUSED_CLAIMS(c, "client_id and sub missing");
	c = claims_with("client_id", json_string("intruder"));
	json_object_set_new(c, "sub", json_string("intruder"));
	REFUSED_CLAIMS(c, "consumer (client_id/sub) does not match");
	REFUSED_CLAIMS(claims_with("jti", NULL), "jti missing");
	char longer[JWT_CLAIM_MAX + 1];
	memset(longer, 'j', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	REFUSED_CLAIMS(claims_with("jti", json_string(longer)), "jti is not a valid string");

	/* producerId, eserviceId, consumerId: checked when configured. */
	static char tok[TOKMAX];
	struct jwt_expect ids = want;
	ids.producer_id = "p-1";
	ids.eservice_id = "e-1";
	ids.consumer_org = "org-1";
	struct jwt_claims got;
	char why[128];
	make_token(HDR, claims_with("consumerId", json_string("org-1")), SIGN_RS256, key, NULL, 0,
	           tok, sizeof tok);
	CHECK(jwt_verify(ks, tok, &ids, NOW, &got, why, sizeof why) == 0);
	CHECK(strcmp(got.producer_id, "p-1") == 0 && strcmp(got.eservice_id, "e-1") == 0 &&
	      strcmp(got.consumer_org, "org-1") == 0);
	make_token(HDR, claims_with("consumerId", json_string("org-2")), SIGN_RS256, key, NULL, 0,
	           tok, sizeof tok);
	refused(tok, &ids, "consumerId does not match", __LINE__);
	make_token(HDR, claims(), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	refused(tok, &ids, "consumerId missing", __LINE__);
	CHECK(jwt_verify(ks, tok, &want, NOW, &got, why, sizeof why) == 0);
	CHECK(got.consumer_org[0] == '\0');
	json_t *c2 = claims_with("producerId", json_string("p-2"));
	json_object_set_new(c2, "consumerId", json_string("org-1"));
	make_token(HDR, c2, SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	refused(tok, &ids, "producerId does not match", __LINE__);
	c2 = claims_with("eserviceId", NULL);
	json_object_set_new(c2, "consumerId", json_string("org-1"));
	make_token(HDR, c2, SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	refused(tok, &ids, "eserviceId missing", __LINE__);
	c2 = claims_with("eserviceId", json_integer(1));
	make_token(HDR, c2, SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	REFUSED(tok, "eserviceId is not a valid string");

	/* max_age: accepted at its edge, refused past it. */
	struct jwt_expect aged = want;
	aged.max_age = 300;
	make_token(HDR, claims(), SIGN_RS256, key, NULL, 0, tok, sizeof tok);
	struct jwt_claims cl;
	CHECK(jwt_verify(ks, tok, &aged, NOW - 10 + 300 + 60, &cl, why, sizeof why) == 0);
	struct jwt_claims cl2;
	CHECK(jwt_verify(ks, tok, &aged, NOW - 10 + 300 + 61, &cl2, why, sizeof why) == -1);
	CHECK(strcmp(why, "token older than max age (iat)") == 0);

	/* An unconfigured verifier refuses everything. */
	struct jwt_expect none = {0};
	refused(tok, &none, "verifier not configured", __LINE__);
}

int main(void)
{
	char err[512];
	CHECK(mkdtemp(tmpdir) != NULL);
	key = gen_rsa(2048);
	other = gen_rsa(2048);
	CHECK(key != NULL && other != NULL);
	if (key == NULL || other == NULL)
		CHECK_DONE();

	test_keyset();
	const char *p = write_jwks("jwks.json", json_pack("[o]", jwk_of(key, KID)));
	CHECK(jwt_keyset_load(p, &ks, err, sizeof err) == 0);
	if (ks == NULL) {
		fprintf(stderr, "%s\n", err);
		CHECK_DONE();
	}
	CHECK(jwt_keyset_count(ks) == 1);
	test_valid();
	test_header_refusals();
	test_claim_refusals();

	jwt_keyset_free(ks);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	for (size_t i = 0; i < nwritten; i++)
		CHECK(unlink(written[i]) == 0);
	CHECK(rmdir(tmpdir) == 0);
	CHECK_DONE();
}
