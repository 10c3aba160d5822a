/* The SIUSS XML of the INPS flows (reference/inps-waas/PS_PSA_SINA201812.xsd):
 * a bounded XML writer that escapes every value it writes, and the renderer
 * of PS/PSA/SINA flows from flow snapshots (the JSON objects api/waas.c
 * builds from an intervention and its beneficiary, see waas_ps_snapshot).
 * Nothing here touches the database. */
#ifndef CARTELLA_WAAS_XML_H
#define CARTELLA_WAAS_XML_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct arena;

/* An XML document being written into one growing buffer of at most max
 * bytes. Errors (out of memory, past max) are sticky: check failed at the end. */
struct xw {
	char *buf; /* malloc'd; freed by the arena given to xw_init */
	size_t len, cap, max;
	bool failed;
};

/* A new empty document (with the XML declaration), owned by the arena a
 * (the writer and its buffer), or NULL on OOM. */
struct xw *xw_new(struct arena *a, size_t max);

/* "<name" (name is a trusted constant). */
void xw_open(struct xw *w, const char *name);

/* ` name="value"` with value escaped (&, <, >, ", ' and the line breaks as
 * character references; other control characters and the non-characters
 * U+FFFE/U+FFFF, which XML 1.0 cannot carry, become spaces). A NULL value
 * writes nothing. */
void xw_attr(struct xw *w, const char *name, const char *value);

/* ">" after xw_open and its attributes. */
void xw_open_end(struct xw *w);

/* "/>" closing an element opened with xw_open. */
void xw_empty_end(struct xw *w);

/* "</name>". */
void xw_close(struct xw *w, const char *name);

/* "<name>text</name>" with text escaped as xw_attr escapes values. */
void xw_text_element(struct xw *w, const char *name, const char *text);

/* The element of a flow's Ente: the tenant that sends it. */
struct waas_ente {
	const char *belfiore;    /* Codice and Indirizzo */
	const char *name;        /* Denominazione (at most 100 characters are kept) */
	const char *operator_cf; /* CFOperatore */
};

/* One PrestazioniSociali of a flow: a snapshot (borrowed) and the operation
 * ('I' or 'C'). */
struct waas_item {
	json_t *snap;
	char op;
};

/* Opens a Flusso (either XSD: the same namespace and IdentificazioneFlusso)
 * named name for ente; the caller writes the rest and closes "Flusso". */
void waas_flow_open(struct xw *w, const struct waas_ente *ente, const char *name);

/* Renders a PS/PSA/SINA Flusso named name for ente with the n items
 * (borrowed) into w: items with the same fiscal code in a row share one
 * Beneficiario (a WaaS flow has exactly one item; a batch file many). */
void waas_ps_render(struct xw *w, const struct waas_ente *ente, const char *name,
                    const struct waas_item *items, size_t n);

/* One data-quality finding on a record: the rule it breaks (a stable
 * code), the Italian message (static storage), and whether the flow refuses
 * the record (refusal) or sends it with something left out or misstated. */
struct waas_issue {
	const char *rule;
	const char *message;
	bool refusal;
};

#define WAAS_MAX_ISSUES 24

/* The findings on one record (caller-owned, start with n = 0). */
struct waas_issues {
	struct waas_issue v[WAAS_MAX_ISSUES];
	size_t n;
};

/* Appends a finding (past WAAS_MAX_ISSUES, nothing). */
void waas_issue_add(struct waas_issues *is, const char *rule, const char *message, bool refusal);

/* The message of the first refusal in is, or NULL. */
const char *waas_first_refusal(const struct waas_issues *is);

/* The residence rules a flow applies (country 380 needs the municipality
 * and its region; NULL = absent), appended to out. */
void waas_residence_checks(const char *country, const char *comune, const char *region,
                           struct waas_issues *out);

/* Every value of a PS snapshot the XSD cannot take, appended to out as
 * refusals, in a fixed order. */
void waas_ps_checks(json_t *snap, struct waas_issues *out);

/* The first refusal of waas_ps_checks: NULL when snap can be rendered into
 * a valid flow, else the data-quality reason (Italian, static storage). */
const char *waas_ps_check(json_t *snap);

#endif
