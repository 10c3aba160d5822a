/* libFuzzer target: the SIUSS XML writer (api/waas_xml.c). The input is a
 * JSON object whose string members replace those of a valid flow snapshot
 * (the object api/waas.c builds from an intervention, here with a SINA
 * section), plus "ente_name" for the sender's Denominazione and "op" for the
 * operation.
 *
 * Checked with libxml2, in process:
 *   - whatever the values, the flow is well-formed XML (every value escaped);
 *   - a value without control characters reads back exactly as given;
 *   - when only the members waas_ps_check guards were replaced (fiscal code,
 *     names, birth year and place, INPS code, denomination, protocol), the
 *     sender's name is one the tenant table can hold, and the check lets the
 *     snapshot through, the flow is valid against the INPS
 *     schema (PS_PSA_SINA201812.xsd, named by CARTELLA_SIUSS_XSD; without it
 *     only the first two checks run). */
#include "api/waas_xml.h"
#include "server/arena.h"
#include "tests/fuzz/fuzz_common.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <string.h>

#define FLOW_MAX (1024 * 1024)

static const char base_snapshot[] =
    "{\"cf\":\"RSSMRA80A01F205X\",\"surname\":\"ROSSI\",\"name\":\"MARIO\","
    "\"birth_year\":\"1980\",\"birth_place\":\"F205\",\"sex\":\"1\",\"citizenship\":\"380\","
    "\"country\":\"380\",\"comune\":\"015093\",\"region\":\"03\",\"means_test\":\"1\","
    "\"dsu_number\":\"INPS-ISEE-2025-12345678A-00\",\"dsu_year\":\"2025\","
    "\"dsu_date\":\"2025-02-01\",\"code\":\"A1.01\",\"denomination\":\"Assistenza domiciliare\","
    "\"protocol\":\"SAD-2025-0001\",\"nature\":\"1\",\"start\":\"2025-03-01\","
    "\"end\":\"2025-12-31\",\"period\":\"10\",\"monthly\":\"120.00\",\"share_ente\":\"1200.00\","
    "\"share_utente\":\"0.00\",\"share_ssn\":\"0.00\",\"in_charge\":\"1\",\"area\":\"2\","
    "\"sina\":{\"Mobilita\":\"2\",\"AttivitaVitaQuotidiana\":\"2\","
    "\"DisturbiComportamentali\":\"1\",\"AreaReddituale\":\"3\",\"AreaSupporto\":\"2\","
    "\"FonteDerivazioneValutazione\":\"1\","
    "\"StrumentoValutazione\":\"1\",\"NecessitaInterventiSociali\":[\"A1.01\",\"A2.07\"],"
    "\"InvaliditaCivile\":[\"2\",\"6\"]}}";

/* The members waas_ps_check answers for. */
static const char *const guarded[] = {
    "cf", "surname", "name", "birth_year", "birth_place", "code", "denomination", "protocol", NULL};

static xmlSchemaPtr schema;

static void xml_silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, xml_silent);
	const char *xsd = getenv("CARTELLA_SIUSS_XSD");
	if (xsd == NULL || xsd[0] == '\0') {
		fprintf(stderr, "fuzz_waas_xml: CARTELLA_SIUSS_XSD not set: no schema check\n");
		return 0;
	}
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
	FUZZ_ASSERT(pc != NULL);
	schema = xmlSchemaParse(pc);
	xmlSchemaFreeParserCtxt(pc);
	FUZZ_ASSERT(schema != NULL);
	return 0;
}

static bool is_guarded(const char *key)
{
	for (size_t i = 0; guarded[i] != NULL; i++)
		if (strcmp(guarded[i], key) == 0)
			return true;
	return false;
}

/* True when s has no control character (those become spaces or character
 * references) and no non-character U+FFFE/U+FFFF. */
static bool plain_text(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f ||
		    (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)))
			return false;
	return true;
}

/* Checks that element name's attribute attr in doc reads back as want. */
static void check_attr(xmlDocPtr doc, const char *elem, const char *attr, const char *want)
{
	for (xmlNodePtr n = xmlDocGetRootElement(doc); n != NULL;) {
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, elem) == 0) {
			xmlChar *v = xmlGetProp(n, (const xmlChar *)attr);
			FUZZ_ASSERT(v != NULL && strcmp((const char *)v, want) == 0);
			xmlFree(v);
			return;
		}
		/* Depth-first walk. */
		if (n->children != NULL) {
			n = n->children;
			continue;
		}
		while (n != NULL && n->next == NULL)
			n = n->parent;
		if (n != NULL)
			n = n->next;
	}
	FUZZ_ASSERT(elem == NULL); /* the element is always there */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(in)) {
		json_decref(in);
		return 0;
	}
	json_t *snap = json_loads(base_snapshot, 0, NULL);
	FUZZ_ASSERT(snap != NULL);
	struct waas_ente ente = {"F205", "Comune di Corsico", "09876543210"};
	char op = 'I';
	bool only_guarded = true;
	const char *key;
	json_t *v;
	json_object_foreach(in, key, v)
	{
		if (!json_is_string(v))
			continue;
		if (strcmp(key, "ente_name") == 0) {
			ente.name = json_string_value(v);
			/* The tenant table holds names of 1 to 200 characters. */
			size_t n = json_string_length(v);
			only_guarded &= n >= 1 && n <= 200;
		} else if (strcmp(key, "op") == 0) {
			op = json_string_value(v)[0] == 'C' ? 'C' : 'I';
		} else {
			json_object_set(snap, key, v);
			only_guarded &= is_guarded(key);
		}
	}
	struct arena *a = arena_new();
	FUZZ_ASSERT(a != NULL);
	struct xw *w = xw_new(a, FLOW_MAX);
	FUZZ_ASSERT(w != NULL);
	struct waas_item item = {snap, op};
	waas_ps_render(w, &ente, "F205.PS.20250301.0000001", &item, 1);
	FUZZ_ASSERT(!w->failed);

	xmlDocPtr doc =
	    xmlReadMemory(w->buf, (int)w->len, "flow.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOENT);
	if (doc == NULL) {
		fprintf(stderr, "not well-formed:\n%s\n", w->buf);
		FUZZ_ASSERT(doc != NULL); /* the flow is well-formed XML */
	}
	const char *surname = json_string_value(json_object_get(snap, "surname"));
	if (surname != NULL && plain_text(surname))
		check_attr(doc, "Anagrafica", "Cognome", surname);
	const char *protocol = json_string_value(json_object_get(snap, "protocol"));
	if (protocol != NULL && plain_text(protocol))
		check_attr(doc, "PrestazioniSociali", "ProtocolloDomanda", protocol);
	if (schema != NULL && only_guarded && waas_ps_check(snap) == NULL) {
		xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
		FUZZ_ASSERT(vc != NULL);
		int valid = xmlSchemaValidateDoc(vc, doc);
		xmlSchemaFreeValidCtxt(vc);
		if (valid != 0)
			fprintf(stderr, "not valid against the XSD:\n%s\n", w->buf);
		FUZZ_ASSERT(valid == 0);
	}
	xmlFreeDoc(doc);
	arena_free(a);
	json_decref(snap);
	json_decref(in);
	return 0;
}
