/* PDND voucher verification (auth/jwt.h): JWKS loading into OpenSSL 3
 * EVP_PKEYs, and the RS256 compact-JWS check followed by the claim checks of
 * the PDND operating manual ("Checks on a Bearer voucher by a producer"),
 * following RFC 8725: one algorithm allowed, chosen by us, never by the
 * token; the key is found by kid in a file we were given, never fetched from
 * a header (jku, x5u, jwk are ignored); crit is refused. */
#include "auth/jwt.h"
#include "server/alloc.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define JWT_KID_MAX     JWT_CLAIM_MAX
#define JWT_SIG_MAX     (JWT_RSA_MAX_BITS / 8)
#define JWT_PART_MAX    (JWT_TOKEN_MAX / 4 * 3 + 3) /* decoded bytes of a part, at most */
#define JWT_NUMDATE_MAX 253402300799LL              /* 9999-12-31T23:59:59Z */
#define JWT_B64_N_MAX   (JWT_RSA_MAX_BITS / 8 / 3 * 4 + 8)

struct jwt_key {
	char kid[JWT_KID_MAX];
	EVP_PKEY *pkey;
	size_t sig_len; /* bytes of a signature: the modulus size */
};

struct jwt_keyset {
	struct jwt_key keys[JWT_JWKS_MAX_KEYS];
	size_t n;
};

/* ------------------------------------------------------------ helpers */

/* Decodes the unpadded base64url text in[0..len) into out (outsz bytes).
 * Strict: any other character, padding or non-zero trailing bits fail.
 * Returns 0 and *outlen, or -1. Borrows everything. */
static int jwt_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsz,
                             size_t *outlen)
{
	*outlen = 0;
	if (len == 0 || len % 4 == 1)
		return -1;
	size_t need = len / 4 * 3 + (len % 4 != 0 ? len % 4 - 1 : 0);
	if (need > outsz)
		return -1;
	if (sodium_base642bin(out, outsz, in, len, NULL, outlen, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	return 0;
}

/* Returns the string value of key in obj (borrowed from obj), or NULL when
 * absent or not a string; *bad tells the two apart and flags strings holding a
 * NUL or longer than max-1 bytes. */
static const char *jwt_str(const json_t *obj, const char *key, size_t max, bool *bad)
{
	*bad = false;
	const json_t *v = json_object_get(obj, key);
	if (v == NULL)
		return NULL;
	if (!json_is_string(v)) {
		*bad = true;
		return NULL;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n >= max || strlen(s) != n) {
		*bad = true;
		return NULL;
	}
	return s;
}

/* Reads the NumericDate claim key of obj into *out. Returns 1 when present
 * and valid (an integer in [0, year 9999]), 0 when absent, -1 when invalid. */
static int jwt_numdate(const json_t *obj, const char *key, long long *out)
{
	const json_t *v = json_object_get(obj, key);
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return -1;
	json_int_t t = json_integer_value(v);
	if (t < 0 || t > JWT_NUMDATE_MAX)
		return -1;
	*out = (long long)t;
	return 1;
}

/* Writes the fixed text reason into why (caller-owned); returns -1. */
static int jwt_refuse(char *why, size_t whyn, const char *reason)
{
	if (whyn > 0)
		snprintf(why, whyn, "%s", reason);
	return -1;
}

/* ------------------------------------------------------------ key set */

/* Builds an RSA public EVP_PKEY from the base64url modulus and exponent.
 * Returns the key (caller-owned) or NULL with the reason in err. */
static EVP_PKEY *jwt_rsa_from_ne(const char *n64, const char *e64, char *err, size_t errn)
{
	EVP_PKEY *pkey = NULL, *res = NULL;
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char nbuf[JWT_SIG_MAX + 8], ebuf[16];
	size_t nlen = 0, elen = 0;

	size_t n64len = strlen(n64), e64len = strlen(e64);
	if (n64len > JWT_B64_N_MAX ||
	    jwt_b64url_decode(n64, n64len, nbuf, sizeof nbuf, &nlen) != 0) {
		snprintf(err, errn, "n is not base64url or is larger than %d bits",
		         JWT_RSA_MAX_BITS);
		goto out;
	}
	if (e64len > 12 || jwt_b64url_decode(e64, e64len, ebuf, sizeof ebuf, &elen) != 0) {
		snprintf(err, errn, "e is not base64url or is too long");
		goto out;
	}
	n = BN_bin2bn(nbuf, (int)nlen, NULL);
	e = BN_bin2bn(ebuf, (int)elen, NULL);
	if (n == NULL || e == NULL) {
		snprintf(err, errn, "out of memory");
		goto out;
	}
	if (BN_num_bits(n) < JWT_RSA_MIN_BITS) {
		snprintf(err, errn, "RSA key of %d bits: at least %d are required", BN_num_bits(n),
		         JWT_RSA_MIN_BITS);
		goto out;
	}
	if (BN_num_bits(n) > JWT_RSA_MAX_BITS) {
		snprintf(err, errn, "RSA key of %d bits: at most %d are accepted", BN_num_bits(n),
		         JWT_RSA_MAX_BITS);
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		snprintf(err, errn, "cannot build the key parameters");
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		snprintf(err, errn, "OpenSSL refuses the RSA key");
		goto out;
	}
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (chk == NULL || EVP_PKEY_public_check(chk) != 1) {
		snprintf(err, errn, "the RSA public key is not valid (n even or e unusable)");
		goto out;
	}
	if (EVP_PKEY_get_bits(pkey) < JWT_RSA_MIN_BITS) {
		snprintf(err, errn, "RSA key under %d bits", JWT_RSA_MIN_BITS);
		goto out;
	}
	res = pkey;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	if (res == NULL)
		ERR_clear_error();
	return res;
}

/* Reads the JWKS file at path into a fresh key set (*out, caller-owned). */
int jwt_keyset_load(const char *path, struct jwt_keyset **out, char *err, size_t errn)
{
	int rc = -1;
	struct jwt_keyset *ks = NULL;
	json_t *root = NULL;
	FILE *f = NULL;
	json_error_t jerr;

	*out = NULL;
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errn, "JWKS file: no path given");
		goto out;
	}
	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errn, "JWKS file %s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > JWT_JWKS_MAX) {
		snprintf(err, errn, "JWKS file %s: not a regular file of at most %d bytes", path,
		         JWT_JWKS_MAX);
		goto out;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errn, "JWKS file %s: line %d: %s", path, jerr.line, jerr.text);
		goto out;
	}
	const json_t *keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		snprintf(err, errn, "JWKS file %s: no \"keys\" array", path);
		goto out;
	}
	if (json_array_size(keys) > JWT_JWKS_MAX_KEYS) {
		snprintf(err, errn, "JWKS file %s: more than %d keys", path, JWT_JWKS_MAX_KEYS);
		goto out;
	}
	ks = calloc(1, sizeof *ks);
	if (ks == NULL) {
		snprintf(err, errn, "JWKS file %s: out of memory", path);
		goto out;
	}
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k)
	{
		bool bad;
		if (!json_is_object(k)) {
			snprintf(err, errn, "JWKS file %s: key %zu is not an object", path, i);
			goto out;
		}
		const json_t *kty = json_object_get(k, "kty");
		const json_t *use = json_object_get(k, "use");
		const json_t *alg = json_object_get(k, "alg");
		if (!json_is_string(kty) || strcmp(json_string_value(kty), "RSA") != 0 ||
		    (use != NULL &&
		     (!json_is_string(use) || strcmp(json_string_value(use), "sig"))) ||
		    (alg != NULL &&
		     (!json_is_string(alg) || strcmp(json_string_value(alg), "RS256"))))
			continue; /* not a key that can verify RS256 */
		const char *kid = jwt_str(k, "kid", JWT_KID_MAX, &bad);
		if (kid == NULL || kid[0] == '\0') {
			snprintf(err, errn, "JWKS file %s: RSA key %zu has no usable kid", path, i);
			goto out;
		}
		for (size_t j = 0; j < ks->n; j++) {
			if (strcmp(ks->keys[j].kid, kid) == 0) {
				snprintf(err, errn, "JWKS file %s: kid of key %zu is repeated",
				         path, i);
				goto out;
			}
		}
		const char *n64 = jwt_str(k, "n", JWT_B64_N_MAX + 1, &bad);
		const char *e64 = jwt_str(k, "e", 16, &bad);
		if (n64 == NULL || e64 == NULL) {
			snprintf(err, errn, "JWKS file %s: RSA key %zu lacks n or e", path, i);
			goto out;
		}
		char why[160];
		EVP_PKEY *pkey = jwt_rsa_from_ne(n64, e64, why, sizeof why);
		if (pkey == NULL) {
			snprintf(err, errn, "JWKS file %s: key %zu: %s", path, i, why);
			goto out;
		}
		struct jwt_key *slot = &ks->keys[ks->n++];
		slot->pkey = pkey;
		slot->sig_len = (size_t)EVP_PKEY_get_size(pkey);
		snprintf(slot->kid, sizeof slot->kid, "%s", kid);
	}
	if (ks->n == 0) {
		snprintf(err, errn, "JWKS file %s: no RSA signing key", path);
		goto out;
	}
	*out = ks;
	ks = NULL;
	rc = 0;
out:
	jwt_keyset_free(ks);
	json_decref(root);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* Borrows ks. */
size_t jwt_keyset_count(const struct jwt_keyset *ks)
{
	return ks == NULL ? 0 : ks->n;
}

/* Takes ks. */
void jwt_keyset_free(struct jwt_keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->keys[i].pkey);
	free(ks);
}

/* ------------------------------------------------------------ verification */

/* True when the RS256 signature sig over data verifies with key. Borrows all. */
static bool jwt_rs256_ok(const struct jwt_key *key, const char *data, size_t len,
                         const unsigned char *sig, size_t siglen)
{
	bool ok = false;
	EVP_PKEY_CTX *pctx = NULL; /* owned by mctx */
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	if (mctx == NULL)
		goto out;
	if (EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL, key->pkey) != 1)
		goto out;
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
		goto out;
	ok = EVP_DigestVerify(mctx, sig, siglen, (const unsigned char *)data, len) == 1;
out:
	EVP_MD_CTX_free(mctx);
	ERR_clear_error();
	return ok;
}

/* Checks the JOSE header; on success *key is the keyset's key (borrowed).
 * Returns NULL or the reason. */
static const char *jwt_check_header(const struct jwt_keyset *ks, const json_t *hdr,
                                    const struct jwt_key **key)
{
	bool bad;
	*key = NULL;
	const char *alg = jwt_str(hdr, "alg", 32, &bad);
	if (alg == NULL)
		return bad ? "alg is not a short string" : "alg missing";
	if (strcasecmp(alg, "none") == 0)
		return "alg none refused";
	if (strncmp(alg, "HS", 2) == 0)
		return "alg HS* (HMAC) refused";
	if (strcmp(alg, "RS256") != 0)
		return "alg is not RS256";
	const char *typ = jwt_str(hdr, "typ", 64, &bad);
	if (typ == NULL)
		return bad ? "typ is not a short string" : "typ missing";
	if (strcasecmp(typ, "at+jwt") != 0 && strcasecmp(typ, "application/at+jwt") != 0)
		return "typ is not at+jwt";
	if (json_object_get(hdr, "crit") != NULL)
		return "crit header not supported";
	const char *kid = jwt_str(hdr, "kid", JWT_KID_MAX, &bad);
	if (kid == NULL)
		return bad ? "kid is not a string of at most 255 bytes" : "kid missing";
	for (size_t i = 0; i < ks->n; i++) {
		if (strcmp(ks->keys[i].kid, kid) == 0) {
			*key = &ks->keys[i];
			return NULL;
		}
	}
	return "kid not in keyset";
}

/* Copies the non-empty string claim name of p into dst[JWT_CLAIM_MAX].
 * Returns NULL, or the reason missing or invalid (both fixed strings). */
static const char *jwt_copy_claim(const json_t *p, const char *name, char *dst, const char *missing,
                                  const char *invalid)
{
	bool bad;
	const char *s = jwt_str(p, name, JWT_CLAIM_MAX, &bad);
	if (s == NULL)
		return bad ? invalid : missing;
	if (s[0] == '\0')
		return invalid;
	memcpy(dst, s, strlen(s) + 1);
	return NULL;
}

/* The PDND identifiers a voucher may carry (producerId, eserviceId,
 * consumerId): copied when present; when want is not NULL the claim is
 * required and must equal it. Returns NULL or a fixed reason. */
static const char *jwt_check_id(const json_t *p, const char *name, const char *want, char *dst)
{
	static const struct {
		const char *name, *missing, *invalid, *differs;
	} reasons[] = {
	    {"producerId", "producerId missing", "producerId is not a valid string",
	     "producerId does not match"},
	    {"eserviceId", "eserviceId missing", "eserviceId is not a valid string",
	     "eserviceId does not match"},
	    {"consumerId", "consumerId missing", "consumerId is not a valid string",
	     "consumerId does not match"},
	};
	size_t i = 0;
	while (i + 1 < sizeof reasons / sizeof reasons[0] && strcmp(reasons[i].name, name) != 0)
		i++;
	const char *r = jwt_copy_claim(p, name, dst, reasons[i].missing, reasons[i].invalid);
	if (r == reasons[i].missing && want == NULL)
		return NULL;
	if (r != NULL)
		return r;
	if (want != NULL && strcmp(dst, want) != 0)
		return reasons[i].differs;
	return NULL;
}

/* Checks the claims of the (signature-verified) payload against want at now
 * and copies them into out. Returns NULL or the reason. */
static const char *jwt_check_claims(const json_t *p, const struct jwt_expect *want, time_t now,
                                    struct jwt_claims *out)
{
	const char *r;
	bool bad;
	long long t = (long long)now;

	r = jwt_copy_claim(p, "iss", out->iss, "iss missing", "iss is not a valid string");
	if (r != NULL)
		return r;
	if (strcmp(out->iss, want->issuer) != 0)
		return "iss does not match";

	const json_t *aud = json_object_get(p, "aud");
	if (aud == NULL)
		return "aud missing";
	bool aud_ok = false;
	if (json_is_string(aud)) {
		aud_ok = json_string_length(aud) == strlen(want->audience) &&
		         strcmp(json_string_value(aud), want->audience) == 0;
	} else if (json_is_array(aud)) {
		size_t i;
		const json_t *a;
		json_array_foreach(aud, i, a)
		{
			if (json_is_string(a) && json_string_length(a) == strlen(want->audience) &&
			    strcmp(json_string_value(a), want->audience) == 0)
				aud_ok = true;
		}
	} else {
		return "aud is neither a string nor an array";
	}
	if (!aud_ok)
		return "aud does not match";

	int got = jwt_numdate(p, "exp", &out->exp);
	if (got == 0)
		return "exp missing";
	if (got < 0)
		return "exp is not an integer NumericDate";
	if (out->exp <= t - JWT_LEEWAY)
		return "token expired (exp)";
	long long nbf = 0;
	got = jwt_numdate(p, "nbf", &nbf);
	if (got < 0)
		return "nbf is not an integer NumericDate";
	if (got > 0 && nbf > t + JWT_LEEWAY)
		return "token not yet valid (nbf in the future)";
	got = jwt_numdate(p, "iat", &out->iat);
	if (got == 0)
		return "iat missing";
	if (got < 0)
		return "iat is not an integer NumericDate";
	if (out->iat > t + JWT_LEEWAY)
		return "iat in the future";
	if (want->max_age > 0 && t - out->iat > (long long)want->max_age + JWT_LEEWAY)
		return "token older than max age (iat)";

	r = jwt_copy_claim(p, "purposeId", out->purpose_id, "purposeId missing",
	                   "purposeId is not a valid string");
	if (r != NULL)
		return r;
	if (want->purpose_id != NULL && strcmp(out->purpose_id, want->purpose_id) != 0)
		return "purposeId does not match";

	const char *client_id = jwt_str(p, "client_id", JWT_CLAIM_MAX, &bad);
	if (bad || (client_id != NULL && client_id[0] == '\0'))
		return "client_id is not a valid string";
	const char *sub = jwt_str(p, "sub", JWT_CLAIM_MAX, &bad);
	if (bad || (sub != NULL && sub[0] == '\0'))
		return "sub is not a valid string";
	if (client_id == NULL && sub == NULL)
		return "client_id and sub missing";
	if (client_id != NULL && sub != NULL && strcmp(client_id, sub) != 0)
		return "client_id and sub differ";
	const char *consumer = client_id != NULL ? client_id : sub;
	memcpy(out->consumer, consumer, strlen(consumer) + 1);
	if (want->consumer_id != NULL && strcmp(out->consumer, want->consumer_id) != 0)
		return "consumer (client_id/sub) does not match";

	r = jwt_copy_claim(p, "jti", out->jti, "jti missing", "jti is not a valid string");
	if (r == NULL)
		r = jwt_check_id(p, "producerId", want->producer_id, out->producer_id);
	if (r == NULL)
		r = jwt_check_id(p, "eserviceId", want->eservice_id, out->eservice_id);
	if (r == NULL)
		r = jwt_check_id(p, "consumerId", want->consumer_org, out->consumer_org);
	return r;
}

/* Borrows ks, token and want; fills out and why (caller-owned). */
int jwt_verify(const struct jwt_keyset *ks, const char *token, const struct jwt_expect *want,
               time_t now, struct jwt_claims *out, char *why, size_t whyn)
{
	int rc = -1;
	json_t *hdr = NULL, *pay = NULL;
	unsigned char *buf = NULL;
	unsigned char sig[JWT_SIG_MAX];
	size_t len, siglen, buflen;
	const char *r = NULL;
	const struct jwt_key *key = NULL;

	memset(out, 0, sizeof *out);
	if (whyn > 0)
		why[0] = '\0';
	if (ks == NULL || want == NULL || want->issuer == NULL || want->audience == NULL)
		return jwt_refuse(why, whyn, "verifier not configured");
	if (token == NULL || token[0] == '\0')
		return jwt_refuse(why, whyn, "token missing");
	len = strnlen(token, JWT_TOKEN_MAX + 1);
	if (len > JWT_TOKEN_MAX)
		return jwt_refuse(why, whyn, "token longer than 8192 bytes");

	const char *dot1 = memchr(token, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot1 == NULL || dot2 == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return jwt_refuse(why, whyn, "token is not three dot-separated parts");
	size_t hlen = (size_t)(dot1 - token);
	size_t plen = (size_t)(dot2 - dot1 - 1);
	size_t slen = len - (size_t)(dot2 + 1 - token);

	buf = alloc_malloc(JWT_PART_MAX);
	if (buf == NULL) {
		r = "out of memory";
		goto out;
	}

	/* Header. */
	if (jwt_b64url_decode(token, hlen, buf, JWT_PART_MAX, &buflen) != 0) {
		r = "header is not base64url";
		goto out;
	}
	hdr = json_loadb((const char *)buf, buflen, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(hdr)) {
		r = "header is not a JSON object";
		goto out;
	}
	r = jwt_check_header(ks, hdr, &key);
	if (r != NULL)
		goto out;

	/* Signature over the ASCII of header.payload. */
	if (slen == 0) {
		r = "signature missing";
		goto out;
	}
	if (slen > (JWT_SIG_MAX + 2) / 3 * 4 ||
	    jwt_b64url_decode(dot2 + 1, slen, sig, sizeof sig, &siglen) != 0) {
		r = "signature is not base64url";
		goto out;
	}
	if (siglen != key->sig_len) {
		r = "signature length does not match the key";
		goto out;
	}
	if (!jwt_rs256_ok(key, token, (size_t)(dot2 - token), sig, siglen)) {
		r = "signature does not verify";
		goto out;
	}

	/* Payload, trusted as PDND's from here on. */
	if (jwt_b64url_decode(dot1 + 1, plen, buf, JWT_PART_MAX, &buflen) != 0) {
		r = "payload is not base64url";
		goto out;
	}
	pay = json_loadb((const char *)buf, buflen, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(pay)) {
		r = "payload is not a JSON object";
		goto out;
	}
	r = jwt_check_claims(pay, want, now, out);
	if (r != NULL)
		goto out;
	rc = 0;
out:
	json_decref(hdr);
	json_decref(pay);
	free(buf);
	if (rc != 0) {
		memset(out, 0, sizeof *out);
		jwt_refuse(why, whyn, r != NULL ? r : "refused");
	}
	return rc;
}
