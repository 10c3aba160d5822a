/* The SINA section of a PS flow (reference/inps-waas/PS_PSA_SINA201812.xsd,
 * SINAType: the assessment of a person who is not self-sufficient).
 *
 * A flow carries it when the intervention is in charge (PresaCarico 1) in
 * user area 2 (Disabilità e non autosufficienza) and the intervention's case
 * (the beneficiary's own) has a sina assessment: the latest version's answers
 * (api/assessments.c checked every code against its list when it was
 * recorded) are copied into the flow snapshot under the XSD's names, so the
 * snapshot comparison of the sync sends a new flow when they change. An
 * intervention of area 2 in charge without a usable assessment is still sent,
 * without the section (it is optional in the XSD), and the data-quality
 * report names it. */
#include "api/waas.h"

#include <string.h>

/* The sina answers and the SINAType attribute or list each becomes. */
static const struct {
	const char *answer, *xsd;
	bool required; /* use="required" in the XSD */
} sina_answers[] = {
    {"mobilita", "Mobilita", true},
    {"attivita_vita_quotidiana", "AttivitaVitaQuotidiana", true},
    {"disturbi_area_cognitiva", "DisturbiAreaCognitiva", false},
    {"disturbi_comportamentali", "DisturbiComportamentali", true},
    {"necessita_cure_sanitarie", "NecessitaCureSanitarie", false},
    {"area_reddituale", "AreaReddituale", true},
    {"area_supporto", "AreaSupporto", true},
    {"fonte_derivazione_valutazione", "FonteDerivazioneValutazione", true},
    {"strumento_valutazione", "StrumentoValutazione", true},
    {"fonte_derivazione_invalidita", "FonteDerivazioneInvalidita", false},
    {"necessita_interventi_sociali", "NecessitaInterventiSociali", false},
    {"invalidita_civile", "InvaliditaCivile", false},
};

/* The answer v as the XSD takes it (new reference): a string, or a
 * non-empty array of strings; NULL otherwise. */
static json_t *sina_value(json_t *v)
{
	if (json_is_string(v))
		return json_incref(v);
	if (!json_is_array(v) || json_array_size(v) == 0)
		return NULL;
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return NULL;
	}
	return json_deep_copy(v);
}

/* Borrows everything; snap gains the member "sina". Returns 0, or -1 when
 * out of memory. */
int waas_sina_snapshot(json_t *snap, const char *answers, bool in_charge, const char *area,
                       struct waas_issues *issues)
{
	if (!in_charge || area == NULL || strcmp(area, "2") != 0)
		return 0;
	if (answers == NULL) {
		if (issues != NULL)
			waas_issue_add(
			    issues, "sina_assessment_missing",
			    "presa in carico nell'area disabilità e non autosufficienza "
			    "senza valutazione SINA: il flusso parte senza la sezione SINA",
			    false);
		return 0;
	}
	int rc = -1;
	json_t *ans = json_loads(answers, 0, NULL);
	json_t *sina = json_object();
	bool complete = ans != NULL;
	if (sina == NULL)
		goto out;
	for (size_t k = 0; complete && k < sizeof sina_answers / sizeof sina_answers[0]; k++) {
		json_t *v = sina_value(json_object_get(ans, sina_answers[k].answer));
		if (v == NULL)
			complete = !sina_answers[k].required;
		else if (json_object_set_new(sina, sina_answers[k].xsd, v) != 0)
			goto out;
	}
	if (complete) {
		if (json_object_set(snap, "sina", sina) != 0)
			goto out;
	} else if (issues != NULL) {
		waas_issue_add(
		    issues, "sina_assessment_incomplete",
		    "la valutazione SINA più recente manca di una risposta obbligatoria: "
		    "il flusso parte senza la sezione SINA",
		    false);
	}
	rc = 0;
out:
	json_decref(sina);
	json_decref(ans);
	return rc;
}
