#include "api/waas_xml.h"
#include "server/alloc.h"
#include "server/arena.h"

#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes (plus a NUL); sets failed past max or on OOM. */
static bool xw_reserve(struct xw *w, size_t n)
{
	if (w->failed)
		return false;
	if (n > w->max || w->len + n + 1 > w->max) {
		w->failed = true;
		return false;
	}
	if (w->len + n + 1 <= w->cap)
		return true;
	size_t cap = w->cap;
	while (cap < w->len + n + 1)
		cap *= 2;
	if (cap > w->max)
		cap = w->max;
	char *nb = alloc_realloc(w->buf, cap);
	if (nb == NULL) {
		w->failed = true;
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

/* Appends n bytes of s as they are. */
static void xw_put(struct xw *w, const char *s, size_t n)
{
	if (!xw_reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/* Appends the NUL-terminated trusted text s. */
static void xw_raw(struct xw *w, const char *s)
{
	xw_put(w, s, strlen(s));
}

/* Frees the buffer of the writer the arena owns (arena cleanup). */
static void xw_free(void *p)
{
	struct xw *w = p;
	free(w->buf);
	w->buf = NULL;
}

struct xw *xw_new(struct arena *a, size_t max)
{
	struct xw *w = arena_alloc(a, sizeof *w);
	if (w == NULL)
		return NULL;
	w->max = max;
	w->cap = 4096 < max ? 4096 : max;
	w->buf = alloc_malloc(w->cap);
	if (w->buf == NULL)
		return NULL;
	w->buf[0] = '\0';
	if (arena_defer(a, xw_free, w) != 0)
		return NULL;
	xw_raw(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	return w->failed ? NULL : w;
}

void xw_open(struct xw *w, const char *name)
{
	xw_raw(w, "<");
	xw_raw(w, name);
}

/* True when p starts the UTF-8 of a code point XML 1.0 cannot carry even as
 * a character reference: U+FFFE, U+FFFF, or a surrogate (ED A0..BF xx). JSON
 * lets them through (\uFFFF), so a name typed with one would otherwise make
 * the whole flow unreadable. Each is three bytes. */
static bool xw_nonchar(const unsigned char *p)
{
	if (p[0] == 0xEF)
		return p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF);
	return p[0] == 0xED && p[1] >= 0xA0 && p[1] <= 0xBF && p[2] != '\0';
}

/* Appends value escaped (&, <, >, ", ' and the line breaks as character
 * references; other control characters become spaces). */
static void xw_escaped(struct xw *w, const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		switch (*p) {
		case '&':
			xw_raw(w, "&amp;");
			break;
		case '<':
			xw_raw(w, "&lt;");
			break;
		case '>':
			xw_raw(w, "&gt;");
			break;
		case '"':
			xw_raw(w, "&quot;");
			break;
		case '\'':
			xw_raw(w, "&apos;");
			break;
		case '\t':
			xw_raw(w, "&#9;");
			break;
		case '\n':
			xw_raw(w, "&#10;");
			break;
		case '\r':
			xw_raw(w, "&#13;");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				xw_raw(w, " ");
			} else if (xw_nonchar(p)) {
				xw_raw(w, " ");
				p += 2;
			} else {
				xw_put(w, (const char *)p, 1);
			}
		}
	}
}

void xw_attr(struct xw *w, const char *name, const char *value)
{
	if (value == NULL)
		return;
	xw_raw(w, " ");
	xw_raw(w, name);
	xw_raw(w, "=\"");
	xw_escaped(w, value);
	xw_raw(w, "\"");
}

void xw_text_element(struct xw *w, const char *name, const char *text)
{
	xw_open(w, name);
	xw_open_end(w);
	xw_escaped(w, text);
	xw_close(w, name);
}

void xw_open_end(struct xw *w)
{
	xw_raw(w, ">");
}

void xw_empty_end(struct xw *w)
{
	xw_raw(w, "/>\n");
}

void xw_close(struct xw *w, const char *name)
{
	xw_raw(w, "</");
	xw_raw(w, name);
	xw_raw(w, ">\n");
}

/* ------------------------------------------------------------- rendering */

/* Member key of snap as a string, or NULL (absent, null or not a string). */
static const char *snap_s(json_t *snap, const char *key)
{
	return json_string_value(json_object_get(snap, key));
}

/* Number of characters (UTF-8 code points) of s. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n++;
	return n;
}

/* Writes attribute name with at most max characters of value (a cut that
 * keeps code points whole). */
static void xw_attr_max(struct xw *w, const char *name, const char *value, size_t max)
{
	if (value == NULL || utf8_chars(value) <= max) {
		xw_attr(w, name, value);
		return;
	}
	char buf[512];
	size_t chars = 0, i = 0;
	for (; value[i] && i < sizeof buf - 1; i++) {
		if (((unsigned char)value[i] & 0xC0) != 0x80 && chars++ == max)
			break;
		buf[i] = value[i];
	}
	while (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0xC0)
		i--; /* never end on the lead byte of a cut sequence */
	buf[i] = '\0';
	xw_attr(w, name, buf);
}

/* The list member name of sina (borrowed) as element name holding one
 * element item per string; nothing when the list is absent or empty. */
static void ps_sina_list(struct xw *w, json_t *sina, const char *name, const char *item)
{
	json_t *list = json_object_get(sina, name);
	if (json_array_size(list) == 0)
		return;
	xw_open(w, name);
	xw_open_end(w);
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		if (json_is_string(v))
			xw_text_element(w, item, json_string_value(v));
	}
	xw_close(w, name);
}

/* The SINA element from the snapshot's "sina" object (api/waas_sina.c
 * fills it with the XSD's names): its attributes, then its two lists. */
static void ps_sina(struct xw *w, json_t *sina)
{
	static const char *const attrs[] = {
	    "Mobilita",
	    "AttivitaVitaQuotidiana",
	    "DisturbiAreaCognitiva",
	    "DisturbiComportamentali",
	    "NecessitaCureSanitarie",
	    "AreaReddituale",
	    "AreaSupporto",
	    "FonteDerivazioneValutazione",
	    "StrumentoValutazione",
	    "FonteDerivazioneInvalidita",
	};
	xw_open(w, "SINA");
	for (size_t k = 0; k < sizeof attrs / sizeof attrs[0]; k++)
		xw_attr(w, attrs[k], snap_s(sina, attrs[k]));
	xw_open_end(w);
	ps_sina_list(w, sina, "NecessitaInterventiSociali", "CodicePrestazione");
	ps_sina_list(w, sina, "InvaliditaCivile", "InvCiv");
	xw_close(w, "SINA");
}

/* The attributes of one PrestazioniSociali from snap, with operation op,
 * and its SINA element when snap has one. */
static void ps_prestazione(struct xw *w, json_t *snap, char op)
{
	static const char *const attrs[][2] = {
	    {"PresenzaProvaMezzi", "means_test"},
	    {"CaratterePrestazione", "nature"},
	    {"NumeroProtocolloDSU", "dsu_number"},
	    {"AnnoProtocolloDSU", "dsu_year"},
	    {"DataDSU", "dsu_date"},
	    {"CodicePrestazione", "code"},
	    {"DenominazionePrestazione", "denomination"},
	    {"ProtocolloDomanda", "protocol"},
	    {"DataInizioPrestazione", "start"},
	    {"DataFinePrestazione", "end"},
	    {"DataErogazionePrestazione", "delivery"},
	    {"ImportoPrestazione", "total"},
	    {"PeriodoErogazione", "period"},
	    {"ImportoMensile", "monthly"},
	    {"ImportoQuotaEnte", "share_ente"},
	    {"ImportoQuotaUtente", "share_utente"},
	    {"ImportoQuotaSSN", "share_ssn"},
	    {"OreServizioMensile", "hours"},
	    {"PresaCarico", "in_charge"},
	    {"AreaUtenza", "area"},
	};
	char opstr[2] = {op, '\0'};
	xw_open(w, "PrestazioniSociali");
	xw_attr(w, "TipoOperazione", opstr);
	for (size_t k = 0; k < sizeof attrs / sizeof attrs[0]; k++)
		xw_attr(w, attrs[k][0], snap_s(snap, attrs[k][1]));
	json_t *sina = json_object_get(snap, "sina");
	if (!json_is_object(sina)) {
		xw_empty_end(w);
		return;
	}
	xw_open_end(w);
	ps_sina(w, sina);
	xw_close(w, "PrestazioniSociali");
}

/* Opens a Beneficiario with its Anagrafica and Indirizzo from snap. */
static void ps_beneficiario(struct xw *w, json_t *snap)
{
	xw_open(w, "Beneficiario");
	xw_attr(w, "CodiceFiscale", snap_s(snap, "cf"));
	xw_open_end(w);
	xw_open(w, "Anagrafica");
	xw_attr(w, "Cognome", snap_s(snap, "surname"));
	xw_attr(w, "Nome", snap_s(snap, "name"));
	xw_attr(w, "AnnoNascita", snap_s(snap, "birth_year"));
	xw_attr(w, "LuogoNascita", snap_s(snap, "birth_place"));
	xw_attr(w, "Genere", snap_s(snap, "sex"));
	xw_attr(w, "CodiceCittadinanza", snap_s(snap, "citizenship"));
	xw_empty_end(w);
	xw_open(w, "Indirizzo");
	xw_attr(w, "CodiceRegione", snap_s(snap, "region"));
	xw_attr(w, "CodiceComune", snap_s(snap, "comune"));
	xw_attr(w, "CodiceNazione", snap_s(snap, "country"));
	xw_empty_end(w);
}

void waas_flow_open(struct xw *w, const struct waas_ente *ente, const char *name)
{
	xw_open(w, "Flusso");
	xw_attr(w, "xmlns", "http://inps.it/Casellario");
	xw_open_end(w);
	xw_raw(w, "\n");
	xw_open(w, "IdentificazioneFlusso");
	xw_attr(w, "Nome", name);
	xw_open_end(w);
	xw_open(w, "Ente");
	xw_attr(w, "Codice", ente->belfiore);
	xw_attr_max(w, "Denominazione", ente->name, 100);
	xw_attr(w, "Indirizzo", ente->belfiore);
	xw_attr(w, "CFOperatore", ente->operator_cf);
	xw_empty_end(w);
	xw_close(w, "IdentificazioneFlusso");
}

void waas_ps_render(struct xw *w, const struct waas_ente *ente, const char *name,
                    const struct waas_item *items, size_t n)
{
	waas_flow_open(w, ente, name);
	const char *open_cf = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *cf = snap_s(items[i].snap, "cf");
		if (open_cf == NULL || cf == NULL || strcmp(open_cf, cf) != 0) {
			if (open_cf != NULL)
				xw_close(w, "Beneficiario");
			ps_beneficiario(w, items[i].snap);
			open_cf = cf ? cf : "";
		}
		ps_prestazione(w, items[i].snap, items[i].op);
	}
	if (open_cf != NULL)
		xw_close(w, "Beneficiario");
	xw_close(w, "Flusso");
}

/* ------------------------------------------------------------- checks */

/* True when s is n characters all in class cls ('A' letter, '9' digit,
 * 'X' letter or digit). */
static bool ps_match(const char *s, const char *cls)
{
	size_t n = strlen(cls);
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		bool digit = c >= '0' && c <= '9';
		if ((cls[i] == 'A' && !letter) || (cls[i] == '9' && !digit) ||
		    (cls[i] == 'X' && !letter && !digit))
			return false;
	}
	return true;
}

/* True when s is present with between lo and hi characters. */
static bool ps_len(const char *s, size_t lo, size_t hi)
{
	if (s == NULL)
		return false;
	size_t n = utf8_chars(s);
	return n >= lo && n <= hi;
}

void waas_issue_add(struct waas_issues *is, const char *rule, const char *message, bool refusal)
{
	if (is->n >= WAAS_MAX_ISSUES)
		return;
	is->v[is->n].rule = rule;
	is->v[is->n].message = message;
	is->v[is->n].refusal = refusal;
	is->n++;
}

const char *waas_first_refusal(const struct waas_issues *is)
{
	for (size_t i = 0; i < is->n; i++)
		if (is->v[i].refusal)
			return is->v[i].message;
	return NULL;
}

void waas_residence_checks(const char *country, const char *comune, const char *region,
                           struct waas_issues *out)
{
	if (country == NULL)
		waas_issue_add(out, "residence_missing",
		               "comune di residenza (codice ISTAT) mancante", true);
	else if (strcmp(country, "380") == 0 && (region == NULL || comune == NULL))
		waas_issue_add(out, "residence_region_unknown",
		               "regione del comune di residenza sconosciuta", true);
}

void waas_ps_checks(json_t *snap, struct waas_issues *out)
{
	const char *cf = snap_s(snap, "cf");
	if (cf == NULL)
		waas_issue_add(out, "fiscal_code_missing", "beneficiario senza codice fiscale",
		               true);
	/* The XSD's pattern: an omocodic code with letters in the year or day
	 * of birth does not match it, and INPS would refuse the flow. */
	else if (!ps_match(cf, "AAAAAA99A99AXXXA") && !ps_match(cf, "99999999999"))
		waas_issue_add(out, "fiscal_code_invalid",
		               "codice fiscale non accettato dallo schema INPS (omocodia "
		               "nell'anno o nel giorno di nascita, o codice provvisorio)",
		               true);
	if (!ps_len(snap_s(snap, "surname"), 1, 36) || !ps_len(snap_s(snap, "name"), 1, 36))
		waas_issue_add(out, "name_length",
		               "cognome e nome devono avere da 1 a 36 caratteri", true);
	const char *year = snap_s(snap, "birth_year");
	if (year == NULL || !ps_match(year, "9999"))
		waas_issue_add(out, "birth_year_missing", "anno di nascita mancante", true);
	const char *place = snap_s(snap, "birth_place");
	if (place == NULL || !ps_match(place, "AXXX"))
		waas_issue_add(out, "birth_place_missing",
		               "luogo di nascita (codice Belfiore) mancante", true);
	waas_residence_checks(snap_s(snap, "country"), snap_s(snap, "comune"),
	                      snap_s(snap, "region"), out);
	if (!ps_len(snap_s(snap, "code"), 5, 10))
		waas_issue_add(out, "inps_code_missing", "codice prestazione INPS mancante", true);
	if (!ps_len(snap_s(snap, "denomination"), 10, 200))
		waas_issue_add(out, "inps_denomination_length",
		               "denominazione della prestazione fuori misura (10-200 caratteri)",
		               true);
	if (!ps_len(snap_s(snap, "protocol"), 1, 32))
		waas_issue_add(out, "protocol_missing", "protocollo della domanda mancante", true);
	const char *means = snap_s(snap, "means_test");
	if (means != NULL && strcmp(means, "1") == 0 && snap_s(snap, "dsu_date") == NULL)
		waas_issue_add(out, "isee_missing",
		               "prestazione soggetta a ISEE senza attestazione ISEE registrata per "
		               "la DSU",
		               true);
	const char *in_charge = snap_s(snap, "in_charge");
	if (in_charge != NULL && strcmp(in_charge, "1") == 0 && snap_s(snap, "area") == NULL)
		waas_issue_add(out, "in_charge_without_area",
		               "presa in carico senza area di utenza", true);
}

const char *waas_ps_check(json_t *snap)
{
	struct waas_issues is = {.n = 0};
	waas_ps_checks(snap, &is);
	return waas_first_refusal(&is);
}
