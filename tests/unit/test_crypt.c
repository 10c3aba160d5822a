/* Field encryption without a database: KEK file checks, key wrapping, value
 * sealing and opening, associated-data binding, blind indexes, bytea text. */
#include "auth/crypt.h"
#include "auth/crypt_internal.h"
#include "server/arena.h"
#include "server/db.h"
#include "tests/unit/check.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TENANT  "5b0c1f4e-2a8d-4c4e-9a71-0d3f6b2e8c11"
#define TENANT2 "9e7d6c5b-4a39-4281-8f7e-6d5c4b3a2918"
#define ROW     "c3d2e1f0-a9b8-4c7d-8e6f-5a4b3c2d1e0f"
#define ROW2    "0f1e2d3c-4b5a-4697-a8b9-cadbecfd0e1f"

static char tmpdir[] = "/tmp/cartella-test-crypt-XXXXXX";

/* Writes len bytes of data to tmpdir/name with mode; returns the path
 * (static buffer, valid until the next call). */
static const char *write_file(const char *name, const unsigned char *data, size_t len, mode_t mode)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return path;
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		fprintf(stderr, "short write to %s\n", path);
	close(fd);
	chmod(path, mode);
	return path;
}

static void test_kek_file(void)
{
	unsigned char good[64], kek[CRYPT_KEY_LEN], zero[CRYPT_KEY_LEN] = {0};
	char err[512];
	randombytes_buf(good, sizeof good);

	const char *p = write_file("kek", good, 32, 0600);
	CHECK(crypt_kek_read(p, kek, err, sizeof err) == 0);
	CHECK(memcmp(kek, good, 32) == 0);
	p = write_file("kek-ro", good, 32, 0400);
	CHECK(crypt_kek_read(p, kek, err, sizeof err) == 0);

	/* Group or other bits: refused, message names the file and the fix. */
	static const mode_t bad_modes[] = {0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666};
	for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
		p = write_file("kek-mode", good, 32, bad_modes[i]);
		err[0] = '\0';
		CHECK(crypt_kek_read(p, kek, err, sizeof err) == -1);
		CHECK(strstr(err, p) != NULL && strstr(err, "group or others") != NULL);
		CHECK(sodium_is_zero(kek, sizeof kek)); /* wiped on failure */
	}

	/* Wrong sizes. */
	p = write_file("kek-short", good, 31, 0600);
	CHECK(crypt_kek_read(p, kek, err, sizeof err) == -1);
	CHECK(strstr(err, p) != NULL && strstr(err, "exactly 32 bytes") != NULL);
	p = write_file("kek-long", good, 33, 0600);
	CHECK(crypt_kek_read(p, kek, err, sizeof err) == -1);
	CHECK(strstr(err, "holds 33") != NULL);
	p = write_file("kek-empty", good, 0, 0600);
	CHECK(crypt_kek_read(p, kek, err, sizeof err) == -1);
	p = write_file("kek-zero", zero, 32, 0600);
	CHECK(crypt_kek_read(p, kek, err, sizeof err) == -1);
	CHECK(strstr(err, "zero") != NULL);

	/* Missing, a directory, unset. */
	char missing[256];
	snprintf(missing, sizeof missing, "%s/no-such-file", tmpdir);
	CHECK(crypt_kek_read(missing, kek, err, sizeof err) == -1);
	CHECK(strstr(err, missing) != NULL);
	char dir[256];
	snprintf(dir, sizeof dir, "%s/adir", tmpdir);
	CHECK(mkdir(dir, 0700) == 0);
	CHECK(crypt_kek_read(dir, kek, err, sizeof err) == -1);
	CHECK(crypt_kek_read("", kek, err, sizeof err) == -1);
	CHECK(strstr(err, "CARTELLA_KEK_FILE") != NULL);
	CHECK(crypt_kek_read(NULL, kek, err, sizeof err) == -1);

	/* crypt_init follows the same rules and can be run again. */
	p = write_file("kek", good, 32, 0600);
	CHECK(crypt_init(p, err, sizeof err) == 0);
	CHECK(crypt_init(p, err, sizeof err) == 0);
	crypt_shutdown();
	p = write_file("kek-mode", good, 32, 0644);
	CHECK(crypt_init(p, err, sizeof err) == -1);
	crypt_shutdown();
	crypt_shutdown(); /* harmless twice */
}

static void test_fingerprint(void)
{
	unsigned char k1[CRYPT_KEY_LEN], k2[CRYPT_KEY_LEN];
	randombytes_buf(k1, sizeof k1);
	randombytes_buf(k2, sizeof k2);
	char f1[17], f1b[17], f2[17];
	crypt_kek_fingerprint(k1, f1);
	crypt_kek_fingerprint(k1, f1b);
	crypt_kek_fingerprint(k2, f2);
	CHECK(strlen(f1) == 16 && strspn(f1, "0123456789abcdef") == 16);
	CHECK(strcmp(f1, f1b) == 0);
	CHECK(strcmp(f1, f2) != 0);
}

static void test_value_ad(void)
{
	char ad[CRYPT_AD_MAX];
	struct crypt_ctx c = {"person", "surname", TENANT, ROW};
	int n = crypt_value_ad(&c, 7, ad, sizeof ad);
	CHECK(n > 0 && strcmp(ad, "person|surname|" TENANT "|" ROW "|7") == 0);
	/* Ids are compared in lower case, as PostgreSQL prints them. */
	struct crypt_ctx up = {"person", "surname", "5B0C1F4E-2A8D-4C4E-9A71-0D3F6B2E8C11", ROW};
	char ad2[CRYPT_AD_MAX];
	CHECK(crypt_value_ad(&up, 7, ad2, sizeof ad2) == n && strcmp(ad, ad2) == 0);
	/* Pieces that would make the encoding ambiguous, or are not ids. */
	struct crypt_ctx bad1 = {"person|x", "surname", TENANT, ROW};
	struct crypt_ctx bad2 = {"person", "", TENANT, ROW};
	struct crypt_ctx bad3 = {"person", "surname", "tenant", ROW};
	struct crypt_ctx bad4 = {"person", "surname", TENANT, NULL};
	CHECK(crypt_value_ad(&bad1, 1, ad, sizeof ad) == -1);
	CHECK(crypt_value_ad(&bad2, 1, ad, sizeof ad) == -1);
	CHECK(crypt_value_ad(&bad3, 1, ad, sizeof ad) == -1);
	CHECK(crypt_value_ad(&bad4, 1, ad, sizeof ad) == -1);
	CHECK(crypt_value_ad(NULL, 1, ad, sizeof ad) == -1);
	CHECK(crypt_value_ad(&c, 1, ad, 20) == -1);
}

/* Seals plain for ctx/version under key into a malloc'd buffer. */
static unsigned char *seal(const unsigned char *key, const struct crypt_ctx *ctx, uint32_t kv,
                           const char *plain, size_t len)
{
	char ad[CRYPT_AD_MAX];
	int adlen = crypt_value_ad(ctx, kv, ad, sizeof ad);
	unsigned char *out = malloc(len + CRYPT_OVERHEAD);
	if (adlen < 0 || out == NULL ||
	    crypt_seal(key, kv, ad, (size_t)adlen, (const unsigned char *)plain, len, out) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* True when sealed (len bytes) opens for ctx under key to plain. */
static bool opens(const unsigned char *key, const struct crypt_ctx *ctx, const unsigned char *in,
                  size_t inlen, const char *plain, size_t plen)
{
	uint32_t kv;
	if (crypt_header(in, inlen, &kv) != 0)
		return false;
	char ad[CRYPT_AD_MAX];
	int adlen = crypt_value_ad(ctx, kv, ad, sizeof ad);
	unsigned char out[256];
	size_t outlen = 0;
	if (adlen < 0 || inlen - CRYPT_OVERHEAD > sizeof out)
		return false;
	if (crypt_open(key, ad, (size_t)adlen, in, inlen, out, &outlen) != 0)
		return false;
	return outlen == plen && memcmp(out, plain, plen) == 0;
}

static void test_values(void)
{
	unsigned char key[CRYPT_KEY_LEN], other[CRYPT_KEY_LEN];
	randombytes_buf(key, sizeof key);
	randombytes_buf(other, sizeof other);
	const char *plain = "RSSMRA80A01F205X";
	size_t len = strlen(plain), total = len + CRYPT_OVERHEAD;
	struct crypt_ctx c = {"person", "fiscal_code", TENANT, ROW};

	unsigned char *s1 = seal(key, &c, 3, plain, len);
	unsigned char *s2 = seal(key, &c, 3, plain, len);
	CHECK(s1 != NULL && s2 != NULL);
	if (s1 == NULL || s2 == NULL)
		goto out;
	/* Format: version 1, key version big-endian, then nonce and ciphertext. */
	CHECK(s1[0] == 1 && s1[1] == 0 && s1[2] == 0 && s1[3] == 0 && s1[4] == 3);
	uint32_t kv = 0;
	CHECK(crypt_header(s1, total, &kv) == 0 && kv == 3);
	CHECK(opens(key, &c, s1, total, plain, len));
	CHECK(opens(key, &c, s2, total, plain, len));
	/* Nonces are fresh, so the same value encrypts differently. */
	CHECK(memcmp(s1 + 5, s2 + 5, CRYPT_NONCE_LEN) != 0);
	CHECK(memcmp(s1 + 5 + CRYPT_NONCE_LEN, s2 + 5 + CRYPT_NONCE_LEN, len) != 0);
	/* No trace of the plaintext. */
	CHECK(memmem(s1, total, plain, len) == NULL);

	/* Flipping any bit of any byte (format, key version, nonce, ciphertext,
	 * tag) makes the value fail. */
	int opened = 0;
	for (size_t i = 0; i < total; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			s1[i] ^= (unsigned char)(1u << bit);
			if (opens(key, &c, s1, total, plain, len))
				opened++;
			s1[i] ^= (unsigned char)(1u << bit);
		}
	}
	CHECK(opened == 0);
	CHECK(opens(key, &c, s1, total, plain, len));
	/* Truncated (tag cut, down to the bare header) or extended. */
	CHECK(!opens(key, &c, s1, total - 1, plain, len));
	CHECK(!opens(key, &c, s1, CRYPT_OVERHEAD, plain, len));
	CHECK(!opens(key, &c, s1, CRYPT_OVERHEAD - 1, plain, len));
	CHECK(!opens(key, &c, s1, 0, plain, len));
	/* Unknown format version. */
	uint32_t dummy;
	s1[0] = 2;
	CHECK(crypt_header(s1, total, &dummy) == -1);
	s1[0] = 1;

	/* Bound to its place: another row, column, table or tenant, another key
	 * version, or another key fails. */
	struct crypt_ctx row2 = {"person", "fiscal_code", TENANT, ROW2};
	struct crypt_ctx col2 = {"person", "surname", TENANT, ROW};
	struct crypt_ctx tab2 = {"person_version", "fiscal_code", TENANT, ROW};
	struct crypt_ctx ten2 = {"person", "fiscal_code", TENANT2, ROW};
	CHECK(!opens(key, &row2, s1, total, plain, len));
	CHECK(!opens(key, &col2, s1, total, plain, len));
	CHECK(!opens(key, &tab2, s1, total, plain, len));
	CHECK(!opens(key, &ten2, s1, total, plain, len));
	CHECK(!opens(other, &c, s1, total, plain, len));
	char ad[CRYPT_AD_MAX];
	unsigned char out[64];
	size_t outlen;
	int adlen = crypt_value_ad(&c, 4, ad, sizeof ad);
	CHECK(adlen > 0 && crypt_open(key, ad, (size_t)adlen, s1, total, out, &outlen) == -1);
	/* A header rewritten to claim version 4 does not pass as version 4. */
	s1[4] = 4;
	CHECK(!opens(key, &c, s1, total, plain, len));
	s1[4] = 3;

	/* Empty and binary values round-trip. */
	unsigned char *e = seal(key, &c, 1, "", 0);
	CHECK(e != NULL && opens(key, &c, e, CRYPT_OVERHEAD, "", 0));
	free(e);
	const char bin[] = {'a', '\0', 'b', '\xff'};
	unsigned char *b = seal(key, &c, 1, bin, sizeof bin);
	CHECK(b != NULL && opens(key, &c, b, sizeof bin + CRYPT_OVERHEAD, bin, sizeof bin));
	free(b);
out:
	free(s1);
	free(s2);
}

static void test_wrap(void)
{
	unsigned char kek[CRYPT_KEY_LEN], kek2[CRYPT_KEY_LEN], key[CRYPT_KEY_LEN];
	unsigned char w1[CRYPT_WRAPPED_LEN], w2[CRYPT_WRAPPED_LEN], back[CRYPT_KEY_LEN];
	randombytes_buf(kek, sizeof kek);
	randombytes_buf(kek2, sizeof kek2);
	randombytes_buf(key, sizeof key);
	CHECK(crypt_wrap(kek, "data", TENANT, 1, key, w1) == 0);
	CHECK(crypt_wrap(kek, "data", TENANT, 1, key, w2) == 0);
	CHECK(memcmp(w1, w2, sizeof w1) != 0); /* fresh nonce */
	CHECK(memmem(w1, sizeof w1, key, sizeof key) == NULL);
	CHECK(crypt_unwrap(kek, "data", TENANT, 1, w1, sizeof w1, back) == 0);
	CHECK(memcmp(back, key, sizeof key) == 0);
	/* Upper-case tenant ids name the same tenant. */
	CHECK(crypt_unwrap(kek, "data", "5B0C1F4E-2A8D-4C4E-9A71-0D3F6B2E8C11", 1, w1, sizeof w1,
	                   back) == 0);
	/* Another KEK, kind, tenant or version; tampering; a wrong length. */
	CHECK(crypt_unwrap(kek2, "data", TENANT, 1, w1, sizeof w1, back) == -1);
	CHECK(sodium_is_zero(back, sizeof back));
	CHECK(crypt_unwrap(kek, "index", TENANT, 1, w1, sizeof w1, back) == -1);
	CHECK(crypt_unwrap(kek, "data", TENANT2, 1, w1, sizeof w1, back) == -1);
	CHECK(crypt_unwrap(kek, "data", TENANT, 2, w1, sizeof w1, back) == -1);
	int opened = 0;
	for (size_t i = 0; i < sizeof w1; i++) {
		w1[i] ^= 0x01;
		if (crypt_unwrap(kek, "data", TENANT, 1, w1, sizeof w1, back) == 0)
			opened++;
		w1[i] ^= 0x01;
	}
	CHECK(opened == 0);
	CHECK(crypt_unwrap(kek, "data", TENANT, 1, w1, sizeof w1 - 1, back) == -1);
	CHECK(crypt_wrap(kek, "other", TENANT, 1, key, w2) == -1);
	CHECK(crypt_wrap(kek, "data", "x", 1, key, w2) == -1);
	CHECK(crypt_wrap(kek, "data", TENANT, 0, key, w2) == -1);
}

static void test_blind(struct arena *a)
{
	unsigned char k1[CRYPT_KEY_LEN], k2[CRYPT_KEY_LEN];
	unsigned char h1[CRYPT_BLIND_LEN], h2[CRYPT_BLIND_LEN], h3[CRYPT_BLIND_LEN];
	randombytes_buf(k1, sizeof k1);
	randombytes_buf(k2, sizeof k2);
	const unsigned char *v = (const unsigned char *)"RSSMRA80A01F205X";
	CHECK(crypt_blind(k1, "person.fiscal_code", v, 16, h1) == 0);
	CHECK(crypt_blind(k1, "person.fiscal_code", v, 16, h2) == 0);
	CHECK(memcmp(h1, h2, sizeof h1) == 0); /* deterministic */
	CHECK(crypt_blind(k1, "person.name", v, 16, h3) == 0);
	CHECK(memcmp(h1, h3, sizeof h1) != 0); /* per column */
	CHECK(crypt_blind(k2, "person.fiscal_code", v, 16, h3) == 0);
	CHECK(memcmp(h1, h3, sizeof h1) != 0); /* per tenant key */
	CHECK(crypt_blind(k1, "person.fiscal_code", v, 15, h3) == 0);
	CHECK(memcmp(h1, h3, sizeof h1) != 0); /* per value */
	/* The column key is not the plain hash of the value under the index key. */
	unsigned char plain[CRYPT_BLIND_LEN];
	crypto_generichash(plain, sizeof plain, v, 16, k1, sizeof k1);
	CHECK(memcmp(h1, plain, sizeof h1) != 0);
	CHECK(crypt_blind(k1, "", v, 16, h3) == -1);
	CHECK(crypt_blind(k1, NULL, v, 16, h3) == -1);
	const char *text = crypt_bytea_text(a, h1, sizeof h1);
	CHECK(text != NULL && strlen(text) == 2 + 2 * CRYPT_BLIND_LEN &&
	      strncmp(text, "\\x", 2) == 0 && strspn(text + 2, "0123456789abcdef") == 64);
}

static void test_bytea(struct arena *a)
{
	const unsigned char in[] = {0x00, 0x01, 0xab, 0xff};
	const char *t = crypt_bytea_text(a, in, sizeof in);
	CHECK(t != NULL && strcmp(t, "\\x0001abff") == 0);
	unsigned char *out = NULL;
	size_t len = 0;
	CHECK(crypt_bytea_parse(a, t, &out, &len) == 0 && len == 4 && memcmp(out, in, 4) == 0);
	CHECK(crypt_bytea_parse(a, "\\x0001ABFF", &out, &len) == 0 && len == 4 &&
	      memcmp(out, in, 4) == 0);
	CHECK(crypt_bytea_parse(a, "\\x", &out, &len) == 0 && len == 0);
	t = crypt_bytea_text(a, in, 0);
	CHECK(t != NULL && strcmp(t, "\\x") == 0);
	CHECK(crypt_bytea_parse(a, "0001", &out, &len) == -1);
	CHECK(crypt_bytea_parse(a, "\\x001", &out, &len) == -1);
	CHECK(crypt_bytea_parse(a, "\\x00zz", &out, &len) == -1);
	CHECK(crypt_bytea_parse(a, "\\x00 1", &out, &len) == -1);
	CHECK(crypt_bytea_parse(a, "\\000", &out, &len) == -1); /* escape format */
	CHECK(crypt_bytea_parse(a, NULL, &out, &len) == -1);
}

/* The public decrypt refuses a malformed stored value before it needs a key
 * (so without a database) as an integrity failure. */
static void test_decrypt_malformed(struct arena *a)
{
	struct crypt_ctx c = {"person", "surname", TENANT, ROW};
	const char *out = "x";
	size_t len = 9;
	CHECK(crypt_decrypt(a, &c, "\\x00", &out, &len) == CRYPT_INTEGRITY);
	CHECK(out == NULL && len == 0);
	CHECK(crypt_decrypt(a, &c, "not bytea", &out, &len) == CRYPT_INTEGRITY);
	/* Right length, unknown format version. */
	char stored[2 + 2 * CRYPT_OVERHEAD + 1];
	stored[0] = '\\';
	stored[1] = 'x';
	for (size_t i = 0; i < 2 * CRYPT_OVERHEAD; i++)
		stored[2 + i] = '0';
	stored[sizeof stored - 1] = '\0';
	stored[2] = '0';
	stored[3] = '2';
	CHECK(crypt_decrypt(a, &c, stored, &out, &len) == CRYPT_INTEGRITY);
	/* Format 1 with the impossible key version 0. */
	stored[3] = '1';
	CHECK(crypt_decrypt(a, &c, stored, &out, &len) == CRYPT_INTEGRITY);
	/* A context that cannot be associated data is the caller's defect. */
	struct crypt_ctx bad = {"person", "surname", TENANT, "row"};
	CHECK(crypt_decrypt(a, &bad, stored, &out, &len) == DB_ERROR);
	CHECK(crypt_encrypt(a, &bad, "v", 1, &out) == DB_ERROR && out == NULL);
	CHECK(crypt_blind_index(a, "tenant", "person.fiscal_code", "v", &out) == DB_ERROR);
}

/* Removes what test_kek_file left in tmpdir. */
static void cleanup(void)
{
	static const char *names[] = {"kek",      "kek-ro",    "kek-mode", "kek-short",
	                              "kek-long", "kek-empty", "kek-zero"};
	char path[256];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/adir", tmpdir);
	rmdir(path);
	rmdir(tmpdir);
}

/* The current and the previous KEK: a key row unwraps with the one whose
 * fingerprint it names; an unknown fingerprint and a row that does not
 * authenticate are told apart; new rows are wrapped with the current KEK. */
static void test_two_keks(void)
{
	unsigned char k1[CRYPT_KEY_LEN], k2[CRYPT_KEY_LEN], key[CRYPT_KEY_LEN], out[CRYPT_KEY_LEN];
	unsigned char w[CRYPT_WRAPPED_LEN];
	char fp1[CRYPT_FINGERPRINT_LEN + 1], fp2[CRYPT_FINGERPRINT_LEN + 1];
	char cur[CRYPT_FINGERPRINT_LEN + 1], prev[CRYPT_FINGERPRINT_LEN + 1],
	    fp[CRYPT_FINGERPRINT_LEN + 1];
	char err[512];
	const char *tenant = "0b6f0c2e-8f0e-4b8e-9d43-3d3c1f1b2a10";
	randombytes_buf(k1, sizeof k1);
	randombytes_buf(k2, sizeof k2);
	randombytes_buf(key, sizeof key);
	crypt_kek_fingerprint(k1, fp1);
	crypt_kek_fingerprint(k2, fp2);
	CHECK(crypt_init(write_file("kek-new", k2, 32, 0600), err, sizeof err) == 0);
	CHECK(crypt_init_previous(write_file("kek-old", k1, 32, 0600), err, sizeof err) == 0);
	crypt_fingerprints(cur, prev);
	CHECK(strcmp(cur, fp2) == 0 && strcmp(prev, fp1) == 0);

	CHECK(crypt_wrap(k1, "data", tenant, 3, key, w) == 0);
	CHECK(crypt_unwrap_loaded(fp1, "data", tenant, 3, w, sizeof w, out) == 0);
	CHECK(memcmp(out, key, sizeof key) == 0);
	CHECK(crypt_unwrap_loaded(fp2, "data", tenant, 3, w, sizeof w, out) == CRYPT_KEK_MISMATCH);
	CHECK(sodium_is_zero(out, sizeof out));
	CHECK(crypt_unwrap_loaded("00000000deadbeef", "data", tenant, 3, w, sizeof w, out) ==
	      CRYPT_KEK_UNKNOWN);
	CHECK(crypt_unwrap_loaded(fp1, "data", tenant, 4, w, sizeof w, out) == CRYPT_KEK_MISMATCH);

	CHECK(crypt_wrap_current("data", tenant, 5, key, w, fp) == 0);
	CHECK(strcmp(fp, fp2) == 0);
	CHECK(crypt_unwrap(k2, "data", tenant, 5, w, sizeof w, out) == 0);
	CHECK(memcmp(out, key, sizeof key) == 0);

	crypt_shutdown();
	crypt_fingerprints(cur, prev);
	CHECK(cur[0] == '\0' && prev[0] == '\0');
	CHECK(crypt_wrap_current("data", tenant, 5, key, w, fp) == -1);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	CHECK(mkdtemp(tmpdir) != NULL);
	struct arena *a = arena_new();
	CHECK(a != NULL);
	if (a == NULL)
		CHECK_DONE();
	test_kek_file();
	test_fingerprint();
	test_value_ad();
	test_values();
	test_wrap();
	test_two_keks();
	test_blind(a);
	test_bytea(a);
	test_decrypt_malformed(a);
	arena_free(a);
	cleanup();
	CHECK_DONE();
}
