/* The subject-access export as a readable HTML page: one section per part
 * of the export under an Italian heading, each list a table whose columns
 * are the members of its items. Every value is escaped; the page carries no
 * script, style sheet or external reference. */
#include "api/subject_access.h"
#include "server/arena.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing page (malloc'd; handed to the arena at the end). */
struct page {
	char *buf;
	size_t len, cap;
	bool failed;
};

/* Appends n bytes of s. */
static void put_n(struct page *p, const char *s, size_t n)
{
	if (p->failed)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 8192;
		while (p->len + n + 1 > cap)
			cap *= 2;
		char *nb = realloc(p->buf, cap);
		if (nb == NULL) {
			p->failed = true;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void put(struct page *p, const char *s)
{
	put_n(p, s, strlen(s));
}

/* Appends s with the HTML special characters escaped. */
static void put_esc(struct page *p, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			put(p, "&amp;");
			break;
		case '<':
			put(p, "&lt;");
			break;
		case '>':
			put(p, "&gt;");
			break;
		case '"':
			put(p, "&quot;");
			break;
		case '\'':
			put(p, "&#39;");
			break;
		default:
			put_n(p, s, 1);
		}
	}
}

/* Appends a JSON value as text: strings as they are, null as a dash,
 * anything else as compact JSON. */
static void put_value(struct page *p, json_t *v)
{
	if (v == NULL || json_is_null(v)) {
		put(p, "—");
		return;
	}
	if (json_is_string(v)) {
		put_esc(p, json_string_value(v));
		return;
	}
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (t == NULL) {
		p->failed = true;
		return;
	}
	put_esc(p, t);
	free(t);
}

/* Appends one object as a two-column table (member, value). */
static void put_object(struct page *p, json_t *o)
{
	const char *k;
	json_t *v;
	put(p, "<table>\n");
	json_object_foreach(o, k, v)
	{
		put(p, "<tr><th>");
		put_esc(p, k);
		put(p, "</th><td>");
		put_value(p, v);
		put(p, "</td></tr>\n");
	}
	put(p, "</table>\n");
}

/* Appends an array of objects as a table with a column per member (the
 * members of all items, in order of first appearance). */
static void put_list(struct page *p, json_t *arr)
{
	if (json_array_size(arr) == 0) {
		put(p, "<p>Nessun elemento.</p>\n");
		return;
	}
	json_t *cols = json_array();
	size_t i;
	json_t *item;
	json_array_foreach(arr, i, item)
	{
		const char *k;
		json_t *v;
		json_object_foreach(item, k, v)
		{
			bool seen = false;
			for (size_t c = 0; c < json_array_size(cols); c++)
				seen = seen ||
				       strcmp(json_string_value(json_array_get(cols, c)), k) == 0;
			if (!seen)
				json_array_append_new(cols, json_string(k));
		}
	}
	put(p, "<table>\n<tr>");
	for (size_t c = 0; c < json_array_size(cols); c++) {
		put(p, "<th>");
		put_esc(p, json_string_value(json_array_get(cols, c)));
		put(p, "</th>");
	}
	put(p, "</tr>\n");
	json_array_foreach(arr, i, item)
	{
		put(p, "<tr>");
		for (size_t c = 0; c < json_array_size(cols); c++) {
			put(p, "<td>");
			put_value(
			    p, json_object_get(item, json_string_value(json_array_get(cols, c))));
			put(p, "</td>");
		}
		put(p, "</tr>\n");
	}
	put(p, "</table>\n");
	json_decref(cols);
}

/* The sections of the page: member of the export and Italian heading. */
static const char *const headings[][2] = {
    {"person", "Dati personali"},
    {"households", "Nuclei familiari (i dati degli altri componenti sono oscurati)"},
    {"isee", "Attestazioni ISEE"},
    {"cases", "Cartelle sociali"},
    {"assessments", "Valutazioni"},
    {"assessment_annotations", "Annotazioni alle valutazioni (dichiarazioni e rettifiche)"},
    {"plans", "Progetti personalizzati"},
    {"interventions", "Interventi e prestazioni"},
    {"notes", "Diario (note)"},
    {"contacts", "Contatti con il segretariato sociale"},
    {"documents", "Documenti"},
    {"rectifications", "Storico delle rettifiche"},
    {"accesses", "Accessi al fascicolo"},
    {"withheld", "Elementi non comunicati e motivo (Codice privacy art. 2-undecies)"},
};

/* Borrows doc; the page is arena-owned. */
const char *sa_html(struct arena *a, json_t *doc, size_t *len)
{
	struct page p = {0};
	put(&p,
	    "<!DOCTYPE html>\n<html lang=\"it\">\n<head><meta charset=\"utf-8\">"
	    "<title>Accesso ai dati personali</title></head>\n<body>\n"
	    "<h1>Accesso ai dati personali (Regolamento UE 2016/679, art. 15)</h1>\n<p>Prodotto "
	    "il ");
	put_value(&p, json_object_get(doc, "generated_at"));
	put(&p, "</p>\n");
	for (size_t s = 0; s < sizeof headings / sizeof headings[0]; s++) {
		json_t *v = json_object_get(doc, headings[s][0]);
		put(&p, "<h2>");
		put_esc(&p, headings[s][1]);
		put(&p, "</h2>\n");
		if (json_is_array(v))
			put_list(&p, v);
		else if (json_is_object(v))
			put_object(&p, v);
		else
			put(&p, "<p>Nessun elemento.</p>\n");
	}
	put(&p, "</body>\n</html>\n");
	if (p.failed || arena_defer(a, free, p.buf) != 0) {
		free(p.buf);
		return NULL;
	}
	*len = p.len;
	return p.buf;
}
