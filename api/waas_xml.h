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

/* Renders a PS/PSA/SINA Flusso named name for ente with the n items
 * (borrowed) into w: items with the same fiscal code in a row share one
 * Beneficiario (a WaaS flow has exactly one item; a batch file many). */
void waas_ps_render(struct xw *w, const struct waas_ente *ente, const char *name,
                    const struct waas_item *items, size_t n);

/* The values the XSD cannot take, checked before a snapshot is stored: NULL
 * when snap can be rendered into a valid flow, else the data-quality reason
 * (Italian, static storage). */
const char *waas_ps_check(json_t *snap);

#endif
