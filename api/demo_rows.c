/* The rows of one synthetic household as COPY text (api/demo_scale.h):
 * names, valid and unique fiscal codes, addresses and contacts encrypted
 * with the tenant's keys (auth/crypt_bulk.h: the associated data binds table,
 * column, tenant and row as the API's own writes do), blind indexes over the
 * names normalised as api/persons.c normalises them; a case in one of the
 * four states (a few sealed), its status history and assessment; the
 * interventions of the case spread over the catalogue, 2021-2025, with
 * amounts and a funding split that adds up to the cost. */
#include "api/demo_scale.h"
#include "api/validate.h"
#include "auth/crypt.h"
#include "auth/crypt_bulk.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct demo_table_def demo_tables[DT__COUNT] = {
    [DT_HOUSEHOLD] = {"household", "tenant_id, id, label_enc, address_enc, created_by, updated_by"},
    [DT_PERSON] = {"person",
                   "tenant_id, id, fiscal_code_enc, surname_enc, given_name_enc, birth_date_enc, "
                   "birth_place_enc, address_enc, contacts_enc, fiscal_code_kind, "
                   "fiscal_code_bidx, surname_bidx, name_bidx, sex, birth_year, citizenship, "
                   "residence_istat, sealed, created_by, updated_by"},
    [DT_MEMBER] = {"household_member", "tenant_id, id, household_id, person_id, relation, head, "
                                       "valid_from, created_by, updated_by"},
    [DT_CASE] = {"social_case", "tenant_id, id, person_id, household_id, area, status, opened_on, "
                                "closed_on, closure_reason, sealed, created_by, updated_by"},
    [DT_HISTORY] = {"case_status_history", "tenant_id, id, case_id, from_status, to_status, "
                                           "reason, changed_by, changed_at"},
    [DT_ASSESSMENT] = {"assessment", "tenant_id, id, case_id, kind, version, assessed_on, answers, "
                                     "free_text_enc, created_by"},
    [DT_INTERVENTION] = {"intervention",
                         "tenant_id, id, case_id, beneficiary_id, service_tenant_id, service_id, "
                         "nature, start_date, end_date, delivery_date, monthly_amount_cents, "
                         "total_amount_cents, means_test, dsu_protocol, share_tenant_cents, "
                         "share_user_cents, management, provider_id, in_charge, user_area, "
                         "application_protocol, status, created_by, updated_by"},
    [DT_FUNDING] = {"intervention_funding", "tenant_id, intervention_id, channel, amount_cents"},
};

static const char *const surnames[] = {
    "Rossi",      "Russo",   "Ferrari",   "Esposito",   "Bianchi",    "Romano",     "Colombo",
    "Ricci",      "Marino",  "Greco",     "Bruno",      "Gallo",      "Conti",      "De Luca",
    "Mancini",    "Costa",   "Giordano",  "Rizzo",      "Lombardi",   "Moretti",    "Barbieri",
    "Fontana",    "Santoro", "Mariani",   "Rinaldi",    "Caruso",     "Ferrara",    "Galli",
    "Martini",    "Leone",   "Longo",     "Gentile",    "Martinelli", "Vitale",     "Lombardo",
    "Serra",      "Coppola", "De Santis", "D'Angelo",   "Marchetti",  "Parisi",     "Villa",
    "Conte",      "Ferraro", "Ferri",     "Fabbri",     "Bianco",     "Marini",     "Grasso",
    "Valentini",  "Messina", "Sala",      "De Angelis", "Gatti",      "Pellegrini", "Palumbo",
    "Sanna",      "Farina",  "Rizzi",     "Monti",      "Cattaneo",   "Morelli",    "Amato",
    "Silvestri",  "Mazza",   "Testa",     "Grassi",     "Pellegrino", "Carbone",    "Giuliani",
    "Benedetti",  "Barone",  "Rossetti",  "Caputo",     "Montanari",  "Guerra",     "Palmieri",
    "Bernardi",   "Martino", "Fiore",     "De Rosa",    "Ferretti",   "Bellini",    "Basile",
    "Riva",       "Donati",  "Piras",     "Vitali",     "Battaglia",  "Sartori",    "Neri",
    "Costantini", "Milani",  "Pagano",    "Ruggiero",   "Sorrentino", "D'Amico",    "Orlando",
    "Damico",     "Negri",   "Popescu",   "Hoxha",      "El Idrissi", "Chen",       "Zhang",
};
static const char *const male[] = {
    "Giuseppe", "Giovanni",   "Antonio",   "Mario",    "Luigi",   "Francesco", "Angelo",
    "Vincenzo", "Pietro",     "Salvatore", "Carlo",    "Franco",  "Domenico",  "Bruno",
    "Paolo",    "Michele",    "Giorgio",   "Aldo",     "Sergio",  "Luciano",   "Stefano",
    "Roberto",  "Alessandro", "Andrea",    "Marco",    "Luca",    "Matteo",    "Lorenzo",
    "Leonardo", "Mattia",     "Gabriele",  "Riccardo", "Tommaso", "Edoardo",   "Davide",
    "Federico", "Simone",     "Alberto",   "Massimo",  "Enrico",  "Ionut",     "Arben",
    "Youssef",  "Wei",        "Mohamed",   "Diego",    "Samuele", "Nicolo",    "Filippo",
};
static const char *const female[] = {
    "Maria",     "Anna",    "Giuseppina", "Rosa",      "Angela",     "Giovanna", "Teresa",
    "Lucia",     "Carmela", "Caterina",   "Francesca", "Antonietta", "Carla",    "Elena",
    "Concetta",  "Rita",    "Margherita", "Franca",    "Paola",      "Laura",    "Silvia",
    "Giulia",    "Chiara",  "Sara",       "Martina",   "Alessia",    "Sofia",    "Aurora",
    "Ginevra",   "Alice",   "Emma",       "Giorgia",   "Greta",      "Beatrice", "Federica",
    "Valentina", "Roberta", "Monica",     "Cristina",  "Elisa",      "Ioana",    "Elira",
    "Fatima",    "Li",      "Noemi",      "Viola",     "Matilde",    "Camilla",  "Irene",
};
/* Places of birth (Belfiore) and the citizenship that goes with them. */
static const struct {
	const char *belfiore, *citizenship;
	unsigned weight;
} places[] = {
    {"F205", "380", 30}, {"D045", "380", 10}, {"B240", "380", 6}, {"C565", "380", 6},
    {"A473", "380", 2},  {"L409", "380", 5},  {"D229", "380", 1}, {"H501", "380", 4},
    {"F839", "380", 5},  {"A662", "380", 3},  {"G273", "380", 4}, {"L219", "380", 3},
    {"C351", "380", 3},  {"D969", "380", 2},  {"B157", "380", 2}, {"Z129", "642", 4},
    {"Z100", "008", 3},  {"Z330", "504", 3},  {"Z210", "156", 2}, {"Z611", "604", 1},
    {"Z336", "818", 1},  {"Z216", "608", 1},
};
static const char *const streets[] = {
    "Via Roma",      "Via Garibaldi", "Via Mazzini",     "Via Verdi",           "Via Dante",
    "Corso Italia",  "Via Cavour",    "Via Matteotti",   "Via Marconi",         "Via Gramsci",
    "Via Leopardi",  "Via Manzoni",   "Piazza Europa",   "Via Volta",           "Via Curiel",
    "Via dei Mille", "Via Colombo",   "Via Don Minzoni", "Via Vittorio Veneto", "Via Milano",
};
static const char *const needs[] = {"sostegno economico",     "sostegno educativo",
                                    "assistenza domiciliare", "inserimento lavorativo",
                                    "emergenza abitativa",    "tutela minori"};
static const char *const notes[] = {
    "Colloquio in sede e visita domiciliare; situazione da monitorare.",
    "Rete familiare presente ma affaticata; concordato un progetto di sostegno.",
    "Richiesta di aiuto economico dopo la perdita del lavoro.",
    "Segnalazione della scuola; avviata la valutazione con la famiglia.",
    "Persona anziana sola, parziale autonomia; valutata assistenza domiciliare.",
};
static const char *const closures[] = {"obiettivi_raggiunti", "trasferimento", "rinuncia",
                                       "altro_servizio",      "decesso",       "maggiore_eta"};
static const char *const funds[] = {"fnps", "fondo_sociale_regionale", "fondo_non_autosufficienze",
                                    "fondo_intesa_famiglia"};

#define PICK(g, arr)    ((arr)[demo_rng_below(&(g)->rng, sizeof(arr) / sizeof((arr)[0]))])
#define DEMO_FIRST_YEAR 2021
#define DEMO_LAST_YEAR  2025
#define DEMO_PLAIN_MAX  512

/* ------------------------------------------------------------ helpers */

/* Borrows nothing. */
void demo_rng_seed(struct demo_rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (r->s == 0)
		r->s = 1;
}

/* Borrows r. */
static uint64_t demo_rng_next(struct demo_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

/* Borrows r; returns 0..n-1 (n > 0). */
uint32_t demo_rng_below(struct demo_rng *r, uint32_t n)
{
	return (uint32_t)((demo_rng_next(r) >> 32) % n);
}

/* Borrows r; writes into out (caller-owned). */
void demo_rng_uuid(struct demo_rng *r, char out[UTIL_UUID_LEN + 1])
{
	unsigned char b[16];
	uint64_t x = demo_rng_next(r), y = demo_rng_next(r);
	memcpy(b, &x, 8);
	memcpy(b + 8, &y, 8);
	util_uuid_v4_format(b, out);
}

/* Makes room for n more bytes; false (and b->oom) when it cannot. */
static bool demo_buf_room(struct demo_buf *b, size_t n)
{
	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 1 << 16;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

/* Borrows s. */
void demo_buf_put(struct demo_buf *b, const char *s, size_t n)
{
	if (!demo_buf_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Borrows s. */
void demo_buf_str(struct demo_buf *b, const char *s)
{
	demo_buf_put(b, s, strlen(s));
}

/* Borrows fmt and the arguments. */
void demo_buf_fmt(struct demo_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->oom = true; /* a defect: every field is short */
		return;
	}
	demo_buf_put(b, tmp, (size_t)n);
}

/* Owns b's memory. */
void demo_buf_free(struct demo_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Appends bytea hex text, COPY-escaped ("\\x..."). Borrows in. */
static void demo_buf_bytea(struct demo_buf *b, const unsigned char *in, size_t n)
{
	if (!demo_buf_room(b, 2 * n + 3))
		return;
	b->p[b->len++] = '\\';
	b->p[b->len++] = '\\';
	b->p[b->len++] = 'x';
	sodium_bin2hex(b->p + b->len, 2 * n + 1, in, n);
	b->len += 2 * n;
}

/* The three letters of a surname or given name in a fiscal code. */
static void cf_letters(const char *name, bool given, char out[3])
{
	char cons[64], vow[64];
	size_t nc = 0, nv = 0;
	for (const char *s = name; *s && nc < sizeof cons && nv < sizeof vow; s++) {
		char c = (char)(*s & ~0x20);
		if (c < 'A' || c > 'Z')
			continue;
		if (strchr("AEIOU", c))
			vow[nv++] = c;
		else
			cons[nc++] = c;
	}
	size_t k = 0;
	if (given && nc >= 4) {
		out[0] = cons[0];
		out[1] = cons[2];
		out[2] = cons[3];
		return;
	}
	for (size_t i = 0; i < nc && k < 3; i++)
		out[k++] = cons[i];
	for (size_t i = 0; i < nv && k < 3; i++)
		out[k++] = vow[i];
	while (k < 3)
		out[k++] = 'X';
}

/* Borrows the strings; writes into out (caller-owned). */
void demo_fiscal_code(const char *surname, const char *given, char sex, int year, int month,
                      int day, const char *place, char out[17])
{
	static const char months[] = "ABCDEHLMPRST";
	char s[3], g[3];
	cf_letters(surname, false, s);
	cf_letters(given, true, g);
	snprintf(out, 17, "%.3s%.3s%02d%c%02d%.4s", s, g, year % 100, months[month - 1],
	         day + (sex == 'F' ? 40 : 0), place);
	out[15] = validate_cf_check_char(out);
	out[16] = '\0';
}

/* Borrows nothing; s is caller-owned until demo_set_free. */
int demo_set_init(struct demo_set *s, size_t expected)
{
	size_t cap = 1024;
	while (cap < 2 * expected + 16)
		cap *= 2;
	s->slot = calloc(cap, 16);
	s->cap = cap;
	s->n = 0;
	return s->slot ? 0 : -1;
}

/* Borrows p; FNV-1a of its n bytes. */
uint64_t demo_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* Slot of key in s, or of the empty slot where it would go. */
static size_t demo_set_slot(const struct demo_set *s, const unsigned char *key)
{
	size_t i = (size_t)demo_hash(key, 16) & (s->cap - 1);
	static const unsigned char zero[16];
	while (memcmp(s->slot + 16 * i, zero, 16) != 0 && memcmp(s->slot + 16 * i, key, 16) != 0)
		i = (i + 1) & (s->cap - 1);
	return i;
}

/* Borrows key. */
int demo_set_add(struct demo_set *s, const unsigned char *key)
{
	if (2 * (s->n + 1) > s->cap)
		return -1;
	size_t i = demo_set_slot(s, key);
	if (memcmp(s->slot + 16 * i, key, 16) == 0)
		return 0;
	memcpy(s->slot + 16 * i, key, 16);
	s->n++;
	return 1;
}

/* Borrows key. */
bool demo_set_has(const struct demo_set *s, const unsigned char *key)
{
	return memcmp(s->slot + 16 * demo_set_slot(s, key), key, 16) == 0;
}

/* Owns s's memory. */
void demo_set_free(struct demo_set *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ dates */

/* Appends day z as YYYY-MM-DD. */
static void buf_date(struct demo_buf *b, int32_t z)
{
	int y, m, d;
	validate_civil_from_days(z, &y, &m, &d);
	demo_buf_fmt(b, "%04d-%02d-%02d", y, m, d);
}

/* ------------------------------------------------------------ fields */

/* Appends the ciphertext of plain for (table, column, row) and a tab. */
static void put_enc(struct demo_gen *g, struct demo_buf *b, const char *table, const char *column,
                    const char *row, const char *plain)
{
	unsigned char sealed[DEMO_PLAIN_MAX + CRYPT_OVERHEAD];
	long n = crypt_bulk_seal(g->bulk, table, column, row, plain, strlen(plain), sealed,
	                         sizeof sealed);
	if (n < 0) {
		g->failed = true;
		return;
	}
	demo_buf_bytea(b, sealed, (size_t)n);
	demo_buf_put(b, "\t", 1);
}

/* Appends the blind index of value for column and a tab; the index goes to
 * out when out is not NULL. */
static void put_bidx(struct demo_gen *g, struct demo_buf *b, const char *column, const char *value,
                     unsigned char *out)
{
	unsigned char h[CRYPT_BLIND_LEN];
	if (crypt_bulk_blind(g->bulk, column, value, h) != 0) {
		g->failed = true;
		return;
	}
	demo_buf_bytea(b, h, sizeof h);
	demo_buf_put(b, "\t", 1);
	if (out != NULL)
		memcpy(out, h, sizeof h);
}

/* A place of birth, by weight. */
static size_t pick_place(struct demo_gen *g)
{
	unsigned total = 0;
	for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
		total += places[i].weight;
	unsigned r = demo_rng_below(&g->rng, total);
	size_t i = 0;
	while (r >= places[i].weight)
		r -= places[i++].weight;
	return i;
}

/* One generated person. */
struct demo_person {
	char id[UTIL_UUID_LEN + 1];
	const char *surname, *given;
	char sex;
	int year;
	int32_t born;
};

/* Borrows cf; the Comune (of nparts) that fiscal code cf belongs to. The
 * codes are partitioned between the Comuni by a hash, so that Comuni loaded
 * at the same time (--jobs) can never make the same code, and each Comune's
 * codes depend on nothing the others do. */
size_t demo_cf_part(const char *cf, size_t nparts)
{
	return nparts > 1 ? (size_t)(demo_hash(cf, 16) % nparts) : 0;
}

/* Finds a fiscal code that belongs to the current Comune (demo_cf_part) and
 * is not used in it, in this run or before, for p (moving the day of birth,
 * then the place, until one does); writes it into cf and the place into
 * *place. Returns false when none is found. */
static bool person_code(struct demo_gen *g, struct demo_person *p, size_t *place, char cf[17])
{
	int y, m, d;
	validate_civil_from_days(p->born, &y, &m, &d);
	for (int tries = 0; tries < 1024; tries++) {
		if (tries > 0 && tries % 16 == 0)
			*place = pick_place(g);
		int day = 1 + (d - 1 + tries) % 28;
		demo_fiscal_code(p->surname, p->given, p->sex, y, m, day, places[*place].belfiore,
		                 cf);
		if (demo_cf_part(cf, g->nparts) != g->part ||
		    demo_set_has(&g->cf_seen, (const unsigned char *)cf))
			continue;
		unsigned char bidx[CRYPT_BLIND_LEN];
		if (crypt_bulk_blind(g->bulk, "person.fiscal_code", cf, bidx) != 0)
			return false;
		if (demo_set_has(g->bidx_taken, bidx))
			continue;
		if (demo_set_add(&g->cf_seen, (const unsigned char *)cf) != 1)
			return false;
		p->born = validate_days_from_civil(y, m, day);
		return true;
	}
	return false;
}

/* Appends one person row. */
static void person_row(struct demo_gen *g, struct demo_person *p, const char *address)
{
	struct demo_buf *b = &g->buf[DT_PERSON];
	const char *t = g->comune->id;
	size_t place = pick_place(g);
	char cf[17], date[16], contacts[96], norm_s[64], norm_g[64], both[130];
	if (!person_code(g, p, &place, cf)) {
		g->failed = true;
		return;
	}
	int y, m, d;
	validate_civil_from_days(p->born, &y, &m, &d);
	snprintf(date, sizeof date, "%04d-%02d-%02d", y, m, d);
	snprintf(contacts, sizeof contacts, "[{\"kind\":\"mobile\",\"value\":\"+39 3%02u %07u\"}]",
	         20 + demo_rng_below(&g->rng, 80), demo_rng_below(&g->rng, 10000000));
	validate_name_normalise(p->surname, norm_s, sizeof norm_s);
	validate_name_normalise(p->given, norm_g, sizeof norm_g);
	snprintf(both, sizeof both, "%s|%s", norm_s, norm_g);

	demo_buf_fmt(b, "%s\t%s\t", t, p->id);
	put_enc(g, b, "person", "fiscal_code", p->id, cf);
	put_enc(g, b, "person", "surname", p->id, p->surname);
	put_enc(g, b, "person", "given_name", p->id, p->given);
	put_enc(g, b, "person", "birth_date", p->id, date);
	put_enc(g, b, "person", "birth_place", p->id, places[place].belfiore);
	put_enc(g, b, "person", "address", p->id, address);
	put_enc(g, b, "person", "contacts", p->id, contacts);
	demo_buf_str(b, "personal\t");
	put_bidx(g, b, "person.fiscal_code", cf, NULL);
	put_bidx(g, b, "person.surname", norm_s, NULL);
	put_bidx(g, b, "person.name", both, NULL);
	demo_buf_fmt(b, "%c\t%d\t%s\t%s\tf\t%s\t%s\n", p->sex, y, places[place].citizenship,
	             g->comune->code, g->user_id, g->user_id);
	g->rows[DT_PERSON]++;
}

/* Appends a case status change row (from NULL: the opening). */
static void history_row(struct demo_gen *g, const char *case_id, const char *from, const char *to,
                        const char *reason, int32_t day)
{
	struct demo_buf *b = &g->buf[DT_HISTORY];
	char id[UTIL_UUID_LEN + 1];
	demo_rng_uuid(&g->rng, id);
	demo_buf_fmt(b, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t", g->comune->id, id, case_id,
	             from ? from : "\\N", to, reason ? reason : "\\N", g->user_id);
	buf_date(b, day);
	demo_buf_str(b, " 10:00:00+00\n");
	g->rows[DT_HISTORY]++;
}

/* Appends the assessment of a case. */
static void assessment_row(struct demo_gen *g, const char *case_id, int32_t day, bool minor)
{
	struct demo_buf *b = &g->buf[DT_ASSESSMENT];
	char id[UTIL_UUID_LEN + 1];
	demo_rng_uuid(&g->rng, id);
	demo_buf_fmt(b, "%s\t%s\t%s\tgeneric\t1\t", g->comune->id, id, case_id);
	buf_date(b, day);
	demo_buf_fmt(b,
	             "\t{\"bisogno_principale\": \"%s\", \"rete_familiare\": \"%s\", "
	             "\"componenti\": %u}\t",
	             minor ? "sostegno educativo" : PICK(g, needs),
	             demo_rng_below(&g->rng, 3) ? "presente" : "fragile",
	             1 + demo_rng_below(&g->rng, 5));
	put_enc(g, b, "assessment", "free_text", id, PICK(g, notes));
	demo_buf_fmt(b, "%s\n", g->user_id);
	g->rows[DT_ASSESSMENT]++;
}

/* Appends one funding part. */
static void funding_row(struct demo_gen *g, const char *iv, const char *channel, long long cents)
{
	demo_buf_fmt(&g->buf[DT_FUNDING], "%s\t%s\t%s\t%lld\n", g->comune->id, iv, channel, cents);
	g->rows[DT_FUNDING]++;
}

/* What the interventions of a case share. */
struct demo_case {
	char id[UTIL_UUID_LEN + 1];
	const char *beneficiary;
	int area;
	bool closed;
	int32_t opened, last_end;
};

/* Appends one intervention of case c and its funding split. */
static void intervention_row(struct demo_gen *g, struct demo_case *c)
{
	struct demo_buf *b = &g->buf[DT_INTERVENTION];
	const struct demo_service *s =
	    &g->services[demo_rng_below(&g->rng, (uint32_t)g->nservices)];
	bool one_off = s->nature == 1 || (s->nature == 2 && demo_rng_below(&g->rng, 2));
	int32_t first = validate_days_from_civil(DEMO_FIRST_YEAR, 1, 1);
	int32_t from = c->opened > first ? c->opened : first;
	int32_t last = validate_days_from_civil(DEMO_LAST_YEAR, 12, 1);
	int32_t day = from + (int32_t)demo_rng_below(&g->rng, (uint32_t)(last - from + 1));
	int y, m, d;
	validate_civil_from_days(day, &y, &m, &d);
	char id[UTIL_UUID_LEN + 1];
	demo_rng_uuid(&g->rng, id);
	long long cost;
	int32_t end = day;
	bool open_ended = false;
	demo_buf_fmt(b, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t", g->comune->id, id, c->id, c->beneficiary,
	             s->tenant_id, s->id, one_off ? "one_off" : "periodic");
	if (one_off) {
		cost = 10000 + (long long)demo_rng_below(&g->rng, 290000);
		demo_buf_str(b, "\\N\t\\N\t");
		buf_date(b, day);
		demo_buf_fmt(b, "\t\\N\t%lld\t", cost);
	} else {
		int months = 1 + (int)demo_rng_below(&g->rng, 12);
		open_ended = !c->closed && demo_rng_below(&g->rng, 20) == 0;
		int em = m + months, ey = y + (em - 1) / 12;
		em = (em - 1) % 12 + 1;
		end = validate_days_from_civil(ey, em, 1) - 1; /* last day of the last month */
		if (c->closed && end > validate_days_from_civil(DEMO_LAST_YEAR, 12, 31))
			end = validate_days_from_civil(DEMO_LAST_YEAR, 12, 31);
		cost = 8000 + (long long)demo_rng_below(&g->rng, 142000);
		buf_date(b, validate_days_from_civil(y, m, 1));
		demo_buf_put(b, "\t", 1);
		if (open_ended)
			demo_buf_str(b, "\\N");
		else
			buf_date(b, end);
		demo_buf_fmt(b, "\t\\N\t%lld\t\\N\t", cost);
	}
	if (end > c->last_end)
		c->last_end = end;
	/* Funding: the user's share, a fund, the Comune for the rest. */
	long long user =
	    demo_rng_below(&g->rng, 10) < 4 ? cost * (5 + demo_rng_below(&g->rng, 26)) / 100 : 0;
	long long fund = demo_rng_below(&g->rng, 2)
	                     ? (cost - user) * (20 + demo_rng_below(&g->rng, 41)) / 100
	                     : 0;
	long long comune = cost - user - fund;
	if (s->isee_linked)
		demo_buf_fmt(
		    b, "1\tINPS-ISEE-%04d-%08u%c-%02u\t", y, demo_rng_below(&g->rng, 100000000),
		    (char)('A' + demo_rng_below(&g->rng, 26)), 1 + demo_rng_below(&g->rng, 99));
	else
		demo_buf_str(b, "4\t\\N\t");
	demo_buf_fmt(b, "%lld\t", comune);
	if (user > 0)
		demo_buf_fmt(b, "%lld\t", user);
	else
		demo_buf_str(b, "\\N\t");
	bool provider = g->comune->provider_id[0] && demo_rng_below(&g->rng, 10) < 6;
	const char *status =
	    demo_rng_below(&g->rng, 100) == 0 ? "cancelled"
	    : (open_ended || end >= validate_days_from_civil(DEMO_LAST_YEAR + 1, 1, 1)) ? "active"
	                                                                                : "ended";
	demo_buf_fmt(b, "%s\t%s\tt\t%d\tDEMO-%04d-%07ld\t%s\t%s\t%s\n",
	             demo_rng_below(&g->rng, 5) ? "single" : "associated",
	             provider ? g->comune->provider_id : "\\N", c->area, y, ++g->serial, status,
	             g->user_id, g->user_id);
	g->rows[DT_INTERVENTION]++;
	if (user > 0)
		funding_row(g, id, "utenza", user);
	if (fund > 0)
		funding_row(g, id, PICK(g, funds), fund);
	if (comune > 0)
		funding_row(g, id, "comune", comune);
}

/* Appends the case of a household with persons p[0..n-1] (p[0] the head):
 * its history, assessment and interventions, in a state drawn at random. */
static void case_rows(struct demo_gen *g, const char *household, struct demo_person *p, int n)
{
	static const char *const states[] = {"access", "assessment", "in_charge", "closed"};
	unsigned r = demo_rng_below(&g->rng, 100);
	int state = r < 10 ? 0 : r < 25 ? 1 : r < 75 ? 2 : 3;
	int target = 0;
	for (int k = 1; k < n; k++)
		if (p[k].year >= 2008 && demo_rng_below(&g->rng, 2))
			target = k;
	struct demo_case c = {.beneficiary = p[target].id, .closed = state == 3};
	c.area = target > 0 ? 1 : (p[0].year < 1960 || demo_rng_below(&g->rng, 3) == 0) ? 2 : 3;
	c.opened = validate_days_from_civil(2019, 1, 1) + (int32_t)demo_rng_below(&g->rng, 2000);
	demo_rng_uuid(&g->rng, c.id);
	bool sealed = demo_rng_below(&g->rng, 200) == 0;

	int32_t assessed = c.opened + 10 + (int32_t)demo_rng_below(&g->rng, 30);
	history_row(g, c.id, NULL, "access", NULL, c.opened);
	if (state >= 1) {
		history_row(g, c.id, "access", "assessment", NULL, assessed);
		assessment_row(g, c.id, assessed, target > 0);
	}
	if (state >= 2) {
		history_row(g, c.id, "assessment", "in_charge", NULL, assessed + 15);
		double mean = g->opts->interventions_per_person * n / 0.75;
		uint32_t span = (uint32_t)(2.0 * mean);
		int k = 1 + (int)demo_rng_below(&g->rng, span > 1 ? span - 1 : 1);
		c.last_end = assessed + 15;
		for (int i = 0; i < k; i++)
			intervention_row(g, &c);
	}
	const char *reason = NULL;
	int32_t closed_on = 0;
	if (state == 3) {
		reason = target > 0 ? "maggiore_eta" : PICK(g, closures);
		closed_on = c.last_end + 1 + (int32_t)demo_rng_below(&g->rng, 60);
		history_row(g, c.id, "in_charge", "closed", reason, closed_on);
	}
	struct demo_buf *b = &g->buf[DT_CASE];
	demo_buf_fmt(b, "%s\t%s\t%s\t%s\t%d\t%s\t", g->comune->id, c.id, c.beneficiary, household,
	             c.area, states[state]);
	buf_date(b, c.opened);
	demo_buf_put(b, "\t", 1);
	if (state == 3)
		buf_date(b, closed_on);
	else
		demo_buf_str(b, "\\N");
	demo_buf_fmt(b, "\t%s\t%s\t%s\t%s\n", reason ? reason : "\\N", sealed ? "t" : "f",
	             g->user_id, g->user_id);
	g->rows[DT_CASE]++;
}

/* Borrows g's run state; appends to its buffers. */
int demo_rows_household(struct demo_gen *g)
{
	static const unsigned size_weight[] = {35, 25, 20, 15, 5};
	unsigned r = demo_rng_below(&g->rng, 100);
	int n = 1;
	for (unsigned acc = size_weight[0]; r >= acc && n < 5; acc += size_weight[n], n++)
		;
	if (g->max_persons >= 1 && n > g->max_persons)
		n = g->max_persons;
	struct demo_person p[5];
	const char *surname = PICK(g, surnames);
	int head_year = n == 1 ? 1930 + (int)demo_rng_below(&g->rng, 70)
	                       : 1950 + (int)demo_rng_below(&g->rng, 40);
	for (int k = 0; k < n; k++) {
		struct demo_person *q = &p[k];
		demo_rng_uuid(&g->rng, q->id);
		bool child = k >= 2 || (k == 1 && n > 2 && demo_rng_below(&g->rng, 4) == 0);
		q->sex = k == 1 && !child ? (p[0].sex == 'M' ? 'F' : 'M')
		                          : (demo_rng_below(&g->rng, 2) ? 'M' : 'F');
		q->surname =
		    k == 1 && !child && demo_rng_below(&g->rng, 2) ? PICK(g, surnames) : surname;
		q->given = q->sex == 'F' ? PICK(g, female) : PICK(g, male);
		q->year = child ? (head_year + 22 + (int)demo_rng_below(&g->rng, 18))
		                : head_year + (int)demo_rng_below(&g->rng, 6);
		if (q->year > 2020)
			q->year = 2020;
		q->born = validate_days_from_civil(q->year, 1 + (int)demo_rng_below(&g->rng, 12),
		                                   1 + (int)demo_rng_below(&g->rng, 28));
	}
	char hid[UTIL_UUID_LEN + 1], address[160], label[64];
	demo_rng_uuid(&g->rng, hid);
	snprintf(address, sizeof address,
	         "{\"line\":\"%s %u\",\"postal_code\":\"%s\",\"istat_code\":\"%s\"}",
	         PICK(g, streets), 1 + demo_rng_below(&g->rng, 150), g->comune->postal_code,
	         g->comune->code);
	snprintf(label, sizeof label, "Famiglia %s", surname);
	struct demo_buf *hb = &g->buf[DT_HOUSEHOLD];
	demo_buf_fmt(hb, "%s\t%s\t", g->comune->id, hid);
	put_enc(g, hb, "household", "label", hid, label);
	put_enc(g, hb, "household", "address", hid, address);
	demo_buf_fmt(hb, "%s\t%s\n", g->user_id, g->user_id);
	g->rows[DT_HOUSEHOLD]++;

	for (int k = 0; k < n; k++) {
		person_row(g, &p[k], address);
		char mid[UTIL_UUID_LEN + 1];
		demo_rng_uuid(&g->rng, mid);
		bool child = p[k].year >= head_year + 15;
		const char *relation = k == 0 ? "1" : child ? "3" : "2";
		int32_t from = validate_days_from_civil(2018, 1, 1);
		demo_buf_fmt(&g->buf[DT_MEMBER], "%s\t%s\t%s\t%s\t%s\t%s\t", g->comune->id, mid,
		             hid, p[k].id, relation, k == 0 ? "t" : "f");
		buf_date(&g->buf[DT_MEMBER], p[k].born > from ? p[k].born : from);
		demo_buf_fmt(&g->buf[DT_MEMBER], "\t%s\t%s\n", g->user_id, g->user_id);
		g->rows[DT_MEMBER]++;
	}
	case_rows(g, hid, p, n);
	return n;
}
