/* SINBA flows (api/sinba.h): which interventions are in SINBA's scope, the
 * snapshot of every value the XML needs, its checks, the sync step and the
 * rendering. A snapshot's keys are the XSD's attribute names (plus
 * "Prestazione" and "Famiglia"), so that the renderer writes what is
 * stored and nothing else. */
#include "api/sinba.h"
#include "api/api.h"
#include "auth/crypt.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/http.h"
#include "server/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SINBA_ID_BYTES 10 /* IDBeneficiario: 20 hex digits (the XSD allows 20) */

/* ------------------------------------------------------------- the rows */

/* The columns every SINBA query returns, in the order of the enum: the
 * intervention, its beneficiary, its service and the latest sinba
 * assessment of its case when the case is the beneficiary's own. */
#define SB_COLUMNS                                                                                 \
	"i.id, i.version, p.id, p.version, p.restricted, i.status, s.never_export, "               \
	"s.export_only_if_in_charge, s.inps_code, i.in_charge, "                                   \
	"to_char(coalesce(i.start_date, i.delivery_date), 'YYYY-MM-DD'), p.birth_date_enc, "       \
	"p.birth_year, p.residence_istat, a.id, a.answers::text, i.case_id "
#define SB_FROM                                                                                    \
	"FROM intervention i "                                                                     \
	"JOIN person p ON p.tenant_id = i.tenant_id AND p.id = i.beneficiary_id "                  \
	"JOIN service_catalogue s ON s.tenant_id = i.service_tenant_id AND s.id = i.service_id "   \
	"LEFT JOIN social_case c ON c.tenant_id = i.tenant_id AND c.id = i.case_id "               \
	"      AND c.person_id = i.beneficiary_id "                                                \
	"LEFT JOIN LATERAL (SELECT x.id, x.answers FROM assessment x WHERE x.tenant_id = "         \
	"c.tenant_id "                                                                             \
	"      AND x.case_id = c.id AND x.kind = 'sinba' ORDER BY x.version DESC LIMIT 1) a ON "   \
	"true "
enum {
	S_ID,
	S_VERSION,
	S_PERSON,
	S_PERSON_VERSION,
	S_RESTRICTED,
	S_STATUS,
	S_NEVER,
	S_ONLY_IN_CHARGE,
	S_INPS,
	S_IN_CHARGE,
	S_REF_DATE,
	S_BIRTH_ENC,
	S_BIRTH_YEAR,
	S_RESIDENCE,
	S_ASSESSMENT,
	S_ANSWERS,
	S_CASE,
	S__COUNT
};

/* A pass over the rows of one request: the tenant's IDBeneficiario key. */
struct sb_pass {
	struct http_req *req;
	unsigned char key[CRYPT_SUBKEY_LEN];
};

/* Age in whole years on ref (YYYY-MM-DD) of a person born on birth
 * (YYYY-MM-DD). */
static int sb_age(const char *birth, const char *ref)
{
	int age = atoi(ref) - atoi(birth);
	if (strcmp(ref + 5, birth + 5) < 0) /* "MM-DD" compare as text */
		age--;
	return age;
}

/* Whether row is in SINBA's scope, and the beneficiary's birth date
 * (decrypted, arena-owned, NULL when not recorded) in *birth: the export
 * rules of the PS flow let the intervention out, it is in charge, and the
 * beneficiary is a minor on its start or delivery date (by birth date, or
 * by birth year when only that is known). Restricted persons are out.
 * Returns a db_rc or CRYPT_INTEGRITY. */
static int sb_in_scope(struct http_req *req, PGresult *r, int row, bool *in, const char **birth)
{
	*in = false;
	*birth = NULL;
	if (waas_true(r, row, S_RESTRICTED) || !waas_true(r, row, S_IN_CHARGE) ||
	    !waas_exportable(PQgetvalue(r, row, S_STATUS), waas_true(r, row, S_NEVER),
	                     waas_true(r, row, S_ONLY_IN_CHARGE), waas_col(r, row, S_INPS), true))
		return DB_OK;
	const char *ref = PQgetvalue(r, row, S_REF_DATE);
	if (!PQgetisnull(r, row, S_BIRTH_ENC)) {
		struct crypt_ctx ctx = {"person", "birth_date", req->principal.tenant_id,
		                        PQgetvalue(r, row, S_PERSON)};
		size_t len;
		int rc =
		    crypt_decrypt(req->arena, &ctx, PQgetvalue(r, row, S_BIRTH_ENC), birth, &len);
		if (rc != DB_OK)
			return rc;
		*in = len == 10 && sb_age(*birth, ref) < 18;
	} else if (waas_col(r, row, S_BIRTH_YEAR) != NULL) {
		*in = atoi(ref) - atoi(PQgetvalue(r, row, S_BIRTH_YEAR)) < 18;
	}
	return DB_OK;
}

/* ------------------------------------------------------------- snapshot */

/* The assessment's answers (keys of api/assessments.c) and the attributes
 * they become; required: use="required" in the XSD. */
static const struct {
	const char *answer, *attr;
	bool required;
} sb_answers[] = {
    {"minore_straniero_non_accompagnato", "MinoreStranieroNoAcc", true},
    {"condizione_minore", "CondizioneMinore", true},
    {"luogo_vita", "LuogoVita", true},
    {"scuola_frequentata", "ScuolaFrequentata", true},
    {"condizione_lavoro", "CondizioneLavoro", true},
    {"disabilita", "Disabilita", true},
    {"tipo_disabilita", "TipoDisabilita", false},
    {"invalidita_civile", "InvCivCertificazioni", false},
    {"cittadinanza_padre", "CodiceCittadinanzaPadre", false},
    {"cittadinanza_madre", "CodiceCittadinanzaMadre", false},
    {"regione_residenza_padre", "CodiceRegioneResidenzaPadre", false},
    {"regione_residenza_madre", "CodiceRegioneResidenzaMadre", false},
    {"titolo_studio_padre", "TitoloStudioPadre", false},
    {"titolo_studio_madre", "TitoloStudioMadre", false},
    {"occupazione_padre", "OccupazionePadre", false},
    {"occupazione_madre", "OccupazioneMadre", false},
    {"data_prima_segnalazione", "DataPrimaSegnalazione", true},
    {"fonte_segnalazione", "FonteSegnalazione", true},
    {"valutazione_minore", "ValutazioneMinore", true},
    {"valutazione_famiglia_minore", "ValutazioneFamigliaMinore", true},
    {"segnalazione_autorita_giudiziaria", "SegnalazioneAutoritaGiudiziaria", true},
    {"data_segnalazione", "DataSegnalazione", false},
    {"provvedimento_giudiziario", "ProvvedimentoGiudiziario", true},
    {"data_provvedimento_giudiziario", "DataProvvedimentoGiudiziario", false},
    {"autorita_provvedimento", "AutoritaProvvedimento", false},
    {"potesta_tutela", "PotestaTutela", false},
    {"tipo_provvedimento_giudiziario", "TipoProvvedimentoGiudiziario", false},
    {"forma_intervento_affido", "FormaInterventoAffido", false},
    {"tipo_intervento_affido", "TipoInterventoAffido", false},
    {"durata_affido", "DurataAffido", false},
    {"carattere_affido", "CarattereAffido", false},
    {"esito_affido", "EsitoAffido", false},
    {"carattere_inserimento_residenziale", "CarattereInserimentoResidenziale", false},
    {"forma_inserimento_residenziale", "FormaInserimentoResidenziale", false},
    {"tipo_inserimento_residenziale", "TipoInserimentoResidenziale", false},
    {"esito_inserimento_struttura", "EsitoInserimentoStruttura", false},
    {"motivazione_chiusura_carico", "MotivazioneChiusuraCarico", false},
    {"situazione_chiusura_carico", "SituazioneChiusuraCarico", false},
    {"collaborazioni_interventi", "CollaborazioniInterventi", false},
    {"numero_componenti_isee", "NumeroComponentiISEE", false},
    {"fascia_isee", "FasciaISEEBeneficiario", false},
};
#define SB_NANSWERS (sizeof sb_answers / sizeof sb_answers[0])

/* The derived attributes, written before the answers' ones. */
static const char *const sb_derived[] = {
    "IDBeneficiario",         "AnnoNascita", "FasciaEtaBeneficiario", "CodiceRegioneResidenza",
    "CodiceNazioneResidenza",
};

/* Sets key of snap to the string v when v is not NULL. */
static void sb_set(json_t *snap, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(snap, key, json_string(v));
}

/* The XSD's value of answer v: "YYYY-MM" months become "MM/YYYY", the
 * count an integer's digits, codes as they are. NULL when unusable. */
static const char *sb_value(struct http_req *req, json_t *v)
{
	if (json_is_integer(v))
		return arena_printf(req->arena, "%lld", (long long)json_integer_value(v));
	const char *s = json_string_value(v);
	if (s != NULL && strlen(s) == 7 && s[4] == '-')
		return arena_printf(req->arena, "%.2s/%.4s", s + 5, s);
	return s;
}

/* Copies the assessment answers of row (JSON text) into snap under their
 * XSD names, the family composition as the array "Famiglia". Returns 0 or
 * -1 when the answers do not parse. */
static int sb_copy_answers(struct http_req *req, json_t *snap, const char *text)
{
	json_t *ans = json_loads(text, 0, NULL);
	if (ans == NULL || arena_defer(req->arena, (void (*)(void *))json_decref, ans) != 0)
		return -1;
	for (size_t k = 0; k < SB_NANSWERS; k++)
		sb_set(snap, sb_answers[k].attr,
		       sb_value(req, json_object_get(ans, sb_answers[k].answer)));
	json_t *family = json_object_get(ans, "composizione_famiglia");
	if (json_is_array(family))
		json_object_set(snap, "Famiglia", family);
	return 0;
}

/* IDBeneficiario of person id: the first SINBA_ID_BYTES of keyed BLAKE2b
 * of the id under the tenant's "sinba-id" subkey, upper-case hex
 * (arena-owned; NULL on failure). Stable for a person, never derived from
 * the fiscal code. */
static const char *sb_pseudonym(struct sb_pass *pass, const char *person_id)
{
	unsigned char h[SINBA_ID_BYTES];
	char hex[2 * SINBA_ID_BYTES + 1];
	if (crypto_generichash(h, sizeof h, (const unsigned char *)person_id, strlen(person_id),
	                       pass->key, sizeof pass->key) != 0)
		return NULL;
	util_hex(h, sizeof h, hex);
	for (char *p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	return arena_strdup(pass->req->arena, hex);
}

/* The SINBA rules on snap (assessed: the case has a sinba assessment;
 * residence: the ISTAT code or NULL), appended to out as refusals: a sinba
 * assessment, the minor's birth year and date (age band), the residence,
 * every attribute the XSD requires, the prestazione's INPS code. */
static void sb_checks(json_t *snap, bool assessed, const char *residence, struct waas_issues *out)
{
	if (!assessed) {
		waas_issue_add(out, "sinba_assessment_missing",
		               "minore in carico senza valutazione SINBA nella sua cartella", true);
	} else {
		bool complete = json_array_size(json_object_get(snap, "Famiglia")) > 0;
		for (size_t k = 0; k < SB_NANSWERS; k++)
			if (sb_answers[k].required &&
			    json_object_get(snap, sb_answers[k].attr) == NULL)
				complete = false;
		if (!complete)
			waas_issue_add(out, "sinba_assessment_incomplete",
			               "valutazione SINBA senza una risposta obbligatoria", true);
	}
	if (json_object_get(snap, "AnnoNascita") == NULL)
		waas_issue_add(out, "birth_year_missing", "anno di nascita mancante", true);
	if (json_object_get(snap, "FasciaEtaBeneficiario") == NULL)
		waas_issue_add(out, "birth_date_missing",
		               "data di nascita mancante: la fascia d'età non si calcola", true);
	waas_residence_checks(
	    json_string_value(json_object_get(snap, "CodiceNazioneResidenza")), residence,
	    json_string_value(json_object_get(snap, "CodiceRegioneResidenza")), out);
	const char *code = json_string_value(json_object_get(snap, "Prestazione"));
	if (code == NULL || strlen(code) < 5 || strlen(code) > 10)
		waas_issue_add(out, "inps_code_missing", "codice prestazione INPS mancante", true);
}

/* Builds the snapshot of row (in scope; birth is the decrypted birth date
 * or NULL) into *snap (owned by the arena) and appends its findings to is.
 * Returns a db_rc. */
static int sb_snapshot(struct sb_pass *pass, PGresult *r, int row, const char *birth, json_t **snap,
                       struct waas_issues *is)
{
	struct http_req *req = pass->req;
	json_t *s = json_object();
	if (s == NULL || arena_defer(req->arena, (void (*)(void *))json_decref, s) != 0)
		return DB_ERROR;
	const char *pseudonym = sb_pseudonym(pass, PQgetvalue(r, row, S_PERSON));
	if (pseudonym == NULL)
		return DB_ERROR;
	sb_set(s, "IDBeneficiario", pseudonym);
	sb_set(s, "AnnoNascita", waas_col(r, row, S_BIRTH_YEAR));
	if (birth != NULL) {
		int age = sb_age(birth, PQgetvalue(r, row, S_REF_DATE));
		char band[16];
		snprintf(band, sizeof band, "%d", (age < 0 ? 0 : age) / 3 + 1);
		sb_set(s, "FasciaEtaBeneficiario", band);
	}
	const char *residence = waas_col(r, row, S_RESIDENCE);
	if (residence != NULL) {
		sb_set(s, "CodiceNazioneResidenza", "380");
		sb_set(s, "CodiceRegioneResidenza", waas_region(residence));
	}
	sb_set(s, "Prestazione", waas_col(r, row, S_INPS));
	const char *answers = waas_col(r, row, S_ANSWERS);
	if (answers != NULL && sb_copy_answers(req, s, answers) != 0)
		return DB_ERROR;
	sb_checks(s, answers != NULL, residence, is);
	*snap = s;
	return DB_OK;
}

/* ------------------------------------------------------------- sync */

/* The queued interventions $2 with their SINBA state. Every one is
 * compared, not only those whose versions differ from sinba_state's: a
 * change of the service (schema/031_flow_change_isee_catalogue.sql) is in no
 * version; sb_sync_one's comparison of the flow texts is the judge. */
static const struct db_stmt st_sb_changed = {
    "sinba_changed",
    "SELECT " SB_COLUMNS ", st.current_flow, f.payload_enc, st.stale_flow " SB_FROM
    "LEFT JOIN sinba_state st ON st.tenant_id = i.tenant_id AND st.intervention_id = i.id "
    "LEFT JOIN flow_record f ON f.tenant_id = st.tenant_id AND f.id = st.current_flow "
    "WHERE i.tenant_id = $1 AND i.id = ANY ($2::uuid[]) "
    "ORDER BY i.created_at, i.id",
};
enum { S_CURRENT = S__COUNT, S_CURRENT_PAYLOAD, S_STALE };

static const struct db_stmt st_sb_state = {
    "sinba_state",
    "INSERT INTO sinba_state (tenant_id, intervention_id, intervention_version, person_version, "
    "                         assessment_id, current_flow, stale_flow, refusal) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (tenant_id, intervention_id) DO UPDATE SET "
    "intervention_version = EXCLUDED.intervention_version, "
    "person_version = EXCLUDED.person_version, assessment_id = EXCLUDED.assessment_id, "
    "current_flow = EXCLUDED.current_flow, stale_flow = EXCLUDED.stale_flow, "
    "refusal = EXCLUDED.refusal, checked_at = clock_timestamp()",
};

/* Brings one changed intervention (row of st_sb_changed) up to date: a new
 * flow when its record is in scope, valid and not what INPS holds; when it
 * left the scope, the flow INPS holds becomes stale (SINBA cannot cancel).
 * A restricted person's record is left as it is: nothing is sent. Returns a
 * db_rc or CRYPT_INTEGRITY. */
static int sb_sync_one(struct sb_pass *pass, PGresult *r, int row, const char *belfiore)
{
	struct http_req *req = pass->req;
	const char *current = waas_col(r, row, S_CURRENT);
	const char *stale = waas_col(r, row, S_STALE);
	const char *refusal = NULL, *new_text = NULL;
	bool in;
	const char *birth;
	int rc = sb_in_scope(req, r, row, &in, &birth);
	if (rc != DB_OK)
		return rc;
	if (in) {
		struct waas_issues is = {.n = 0};
		json_t *snap;
		rc = sb_snapshot(pass, r, row, birth, &snap, &is);
		if (rc != DB_OK)
			return rc;
		refusal = waas_first_refusal(&is);
		if (refusal == NULL && (new_text = waas_snapshot_text(req, snap)) == NULL)
			return DB_ERROR;
	}
	if (new_text != NULL) {
		const char *cur_text = NULL;
		if (current != NULL) {
			json_t *old;
			rc = waas_snapshot_load(req, current, PQgetvalue(r, row, S_CURRENT_PAYLOAD),
			                        &old);
			if (rc != DB_OK)
				return rc;
			if ((cur_text = waas_snapshot_text(req, old)) == NULL)
				return DB_ERROR;
		}
		if (cur_text == NULL || strcmp(cur_text, new_text) != 0) {
			struct waas_emit_of of = {"SINBA", belfiore, PQgetvalue(r, row, S_ID),
			                          PQgetvalue(r, row, S_VERSION),
			                          PQgetvalue(r, row, S_PERSON)};
			rc = waas_emit(req, &of, "I", new_text, &current);
			stale = NULL;
		}
	} else if (!in && current != NULL && !waas_true(r, row, S_RESTRICTED)) {
		stale = current;
		current = NULL;
	}
	if (rc != DB_OK)
		return rc;
	const char *p[8] = {req->principal.tenant_id,
	                    PQgetvalue(r, row, S_ID),
	                    PQgetvalue(r, row, S_VERSION),
	                    PQgetvalue(r, row, S_PERSON_VERSION),
	                    waas_col(r, row, S_ASSESSMENT),
	                    current,
	                    stale,
	                    refusal};
	return db_exec(req->arena, &st_sb_state, 8, p, NULL);
}

/* Starts a pass: loads the tenant's IDBeneficiario key. Returns a db_rc. */
static int sb_pass_begin(struct http_req *req, struct sb_pass *pass)
{
	pass->req = req;
	return crypt_tenant_subkey(req->arena, req->principal.tenant_id, "sinba-id", pass->key);
}

int sinba_sync(struct http_req *req, const char *belfiore, const char *ids)
{
	struct sb_pass pass;
	int rc = sb_pass_begin(req, &pass);
	PGresult *r = NULL;
	const char *p[2] = {req->principal.tenant_id, ids};
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_sb_changed, 2, p, &r);
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++)
		rc = sb_sync_one(&pass, r, i, belfiore);
	sodium_memzero(pass.key, sizeof pass.key);
	return rc;
}

/* ------------------------------------------------------------- rendering */

/* Writes the attribute key of snap when present. */
static void sb_attr(struct xw *w, json_t *snap, const char *key)
{
	xw_attr(w, key, json_string_value(json_object_get(snap, key)));
}

void sinba_render(struct xw *w, const struct waas_ente *ente, const char *name,
                  json_t *const *snaps, size_t n)
{
	waas_flow_open(w, ente, name);
	for (size_t i = 0; i < n;) {
		json_t *s = snaps[i];
		const char *id = json_string_value(json_object_get(s, "IDBeneficiario"));
		size_t end = i + 1;
		while (end < n && id != NULL &&
		       json_equal(json_object_get(snaps[end], "IDBeneficiario"),
		                  json_object_get(s, "IDBeneficiario")))
			end++;
		xw_open(w, "SINBA");
		for (size_t k = 0; k < sizeof sb_derived / sizeof sb_derived[0]; k++)
			sb_attr(w, s, sb_derived[k]);
		for (size_t k = 0; k < SB_NANSWERS; k++)
			sb_attr(w, s, sb_answers[k].attr);
		xw_open_end(w);
		xw_open(w, "Prestazioni");
		xw_open_end(w);
		for (size_t j = i; j < end; j++) {
			const char *code =
			    json_string_value(json_object_get(snaps[j], "Prestazione"));
			bool seen = false;
			for (size_t q = i; q < j && code != NULL; q++)
				seen = seen || json_equal(json_object_get(snaps[q], "Prestazione"),
				                          json_object_get(snaps[j], "Prestazione"));
			if (code != NULL && !seen)
				xw_text_element(w, "CodicePrestazione", code);
		}
		xw_close(w, "Prestazioni");
		xw_open(w, "Famiglia");
		xw_open_end(w);
		size_t f;
		json_t *member;
		json_array_foreach(json_object_get(s, "Famiglia"), f, member)
		{
			if (json_is_string(member))
				xw_text_element(w, "ComposizioneFamiglia",
				                json_string_value(member));
		}
		xw_close(w, "Famiglia");
		xw_close(w, "SINBA");
		i = end;
	}
	xw_close(w, "Flusso");
}

/* ------------------------------------------------------------- data quality */

/* As for the PS flow, what the flows never see is not listed (restricted
 * and sealed persons, sealed cases). */
static const struct db_stmt st_sb_quality = {
    "sinba_quality",
    "SELECT " SB_COLUMNS ", st.stale_flow " SB_FROM
    "LEFT JOIN sinba_state st ON st.tenant_id = i.tenant_id AND st.intervention_id = "
    "i.id " WAAS_QUALITY_JOIN "WHERE i.tenant_id = $1 " WAAS_QUALITY_WHERE WAAS_PERIOD
    "ORDER BY i.created_at, i.id",
};
enum { S_Q_STALE = S__COUNT };

int sinba_quality(struct http_req *req, const char *from, const char *to, waas_finding_fn fn,
                  void *ctx)
{
	struct sb_pass pass;
	int rc = sb_pass_begin(req, &pass);
	PGresult *r = NULL;
	const char *p[3] = {req->principal.tenant_id, from, to};
	if (rc == DB_OK)
		rc = db_exec(req->arena, &st_sb_quality, 3, p, &r);
	for (int i = 0; rc == DB_OK && i < PQntuples(r); i++) {
		struct waas_issues is = {.n = 0};
		bool in;
		const char *birth;
		rc = sb_in_scope(req, r, i, &in, &birth);
		json_t *snap;
		if (rc == DB_OK && in)
			rc = sb_snapshot(&pass, r, i, birth, &snap, &is);
		if (rc == DB_OK && waas_col(r, i, S_Q_STALE) != NULL)
			waas_issue_add(
			    &is, "sinba_stale_flow",
			    "flusso SINBA già trasmesso e non più valido: il tracciato SINBA "
			    "non prevede la cancellazione, va rettificato sul portale INPS",
			    false);
		for (size_t k = 0; rc == DB_OK && k < is.n; k++)
			rc = fn(ctx, "intervention", PQgetvalue(r, i, S_ID),
			        PQgetvalue(r, i, S_PERSON), waas_col(r, i, S_CASE), &is.v[k]);
	}
	sodium_memzero(pass.key, sizeof pass.key);
	return rc;
}
