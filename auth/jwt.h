/* PDND Interoperabilità vouchers: a verifier for `Authorization: Bearer`
 * JWTs signed by PDND (header typ at+jwt, alg RS256, kid), checked against a
 * JWKS file of RSA public keys and against what the e-service expects (iss,
 * aud, exp/nbf/iat, purposeId, the consumer, producerId/eserviceId/consumerId).
 * auth/pdnd.c turns an accepted voucher into a client principal.
 * See docs/security.md and the interoperability notes §3. */
#ifndef CARTELLA_JWT_H
#define CARTELLA_JWT_H

#include <stddef.h>
#include <time.h>

#define JWT_TOKEN_MAX     8192 /* bytes of the compact form, at most */
#define JWT_LEEWAY        60   /* seconds of clock skew allowed on exp, nbf, iat */
#define JWT_CLAIM_MAX     256  /* size of each copied string claim, with its NUL */
#define JWT_RSA_MIN_BITS  2048
#define JWT_RSA_MAX_BITS  8192
#define JWT_JWKS_MAX      (1024 * 1024) /* bytes of a JWKS file, at most */
#define JWT_JWKS_MAX_KEYS 64

/* The RSA keys of a JWKS file, by kid. Opaque. */
struct jwt_keyset;

/* Loads the JWKS file at path: {"keys": [{"kty": "RSA", "kid": ..., "n": ...,
 * "e": ..., "use"?: "sig", "alg"?: "RS256"}, ...]}. Keys of another kty, use
 * or alg are skipped; an RSA key without kid, with bad n/e, under
 * JWT_RSA_MIN_BITS bits, or a repeated kid refuses the whole file, as does a
 * file with no usable key. On success returns 0 and *out (caller-owned, free
 * with jwt_keyset_free); otherwise -1, *out NULL and the reason in err. */
int jwt_keyset_load(const char *path, struct jwt_keyset **out, char *err, size_t errn);

/* Number of usable keys in ks. */
size_t jwt_keyset_count(const struct jwt_keyset *ks);

/* Frees ks and its keys (NULL is fine). */
void jwt_keyset_free(struct jwt_keyset *ks);

/* What an e-service expects of its vouchers. issuer and audience are
 * required; purpose_id, consumer_id (client_id/sub), producer_id,
 * eservice_id and consumer_org (the consumerId claim, the consumer's
 * organisation) are checked when not NULL; max_age (seconds) bounds the age
 * of iat when > 0. */
struct jwt_expect {
	const char *issuer;
	const char *audience;
	const char *purpose_id;
	const char *consumer_id;
	long max_age;
	const char *producer_id;
	const char *eservice_id;
	const char *consumer_org;
};

/* Copies of the claims of an accepted voucher. consumer is client_id, or sub
 * when client_id is absent (PDND sends both, equal). */
struct jwt_claims {
	char iss[JWT_CLAIM_MAX];
	char consumer[JWT_CLAIM_MAX];
	char purpose_id[JWT_CLAIM_MAX];
	char jti[JWT_CLAIM_MAX];
	long long exp;
	long long iat;
	char producer_id[JWT_CLAIM_MAX];  /* "" when the voucher has none */
	char eservice_id[JWT_CLAIM_MAX];  /* "" when the voucher has none */
	char consumer_org[JWT_CLAIM_MAX]; /* consumerId; "" when absent */
};

/* Verifies the compact JWS token (NUL-terminated) against ks and want at
 * time now. Returns 0 and fills *out when accepted; otherwise -1, *out zeroed
 * and a fixed reason (never token content) in why, for the log only: the
 * HTTP answer is a bare 401 whatever the reason. */
int jwt_verify(const struct jwt_keyset *ks, const char *token, const struct jwt_expect *want,
               time_t now, struct jwt_claims *out, char *why, size_t whyn);

#endif
