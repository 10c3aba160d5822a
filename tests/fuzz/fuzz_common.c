#include "tests/fuzz/fuzz_common.h"
#include "auth/policy.h"
#include "server/config.h"
#include "server/http.h"
#include "server/log.h"

#include <string.h>

void fuzz_quiet_setup(void)
{
	/* No database: every statement a handler runs meets DB_UNAVAILABLE. */
	unsetenv("DATABASE_URL");
	unsetenv("CARTELLA_CONFIG");
	if (config_load() != 0)
		abort();
	log_set_level(LOGL_ERROR);
}

/* Fills *p (caller-owned). */
void fuzz_principal(struct http_principal *p)
{
	memset(p, 0, sizeof *p);
	p->authenticated = true;
	util_strlcpy(p->user_id, "7b0d1c9e-3f6a-4c21-9e55-0a1b2c3d4e5f", sizeof p->user_id);
	util_strlcpy(p->tenant_id, "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b", sizeof p->tenant_id);
	util_strlcpy(p->session_id, "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d", sizeof p->session_id);
	util_strlcpy(p->username, "fuzz.operatore", sizeof p->username);
	util_strlcpy(p->tenant_code, "015093", sizeof p->tenant_code);
	util_strlcpy(p->second_factor, "totp", sizeof p->second_factor);
	p->roles = (1u << POLICY_ROLE_COUNT) - 1u;
}

/* Returns a malloc'd copy of the file (caller frees) or NULL. */
char *fuzz_read_file(const char *path, size_t *len)
{
	char *buf = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0)
		goto out;
	long n = ftell(f);
	if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)n + 1);
	if (buf == NULL)
		goto out;
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
out:
	fclose(f);
	return buf;
}
