#include "server/jsonx.h"

#include <stdio.h>
#include <string.h>

#define JSONX_MAX_STRING (1024u * 1024u)

/* Borrows buf. */
int jsonx_depth(const char *buf, size_t len, int limit)
{
	int depth = 0, max = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max) {
				max = depth;
				if (max > limit)
					return limit + 1;
			}
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return max;
}

/* Borrows buf; gives *out to the caller. */
enum jsonx_parse_result jsonx_parse(const char *buf, size_t len, int max_depth, json_t **out,
                                    char *where, size_t n)
{
	*out = NULL;
	if (jsonx_depth(buf, len, max_depth) > max_depth)
		return JSONX_TOO_DEEP;
	json_error_t err;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL) {
		if (where != NULL && n > 0)
			snprintf(where, n, "riga %d, colonna %d", err.line, err.column);
		return JSONX_MALFORMED;
	}
	*out = j;
	return JSONX_OK;
}

json_t *jsonx_errors_new(void)
{
	return json_array();
}

/* Borrows everything. */
void jsonx_error(json_t *errors, const char *field, const char *rule, const char *message)
{
	json_t *e = json_pack("{s:s, s:s, s:s}", "field", field, "rule", rule, "message", message);
	if (e != NULL)
		json_array_append_new(errors, e);
}

/* Counts UTF-8 code points (the body was validated as UTF-8 by jansson). */
static size_t utf8_chars(const char *s, size_t bytes)
{
	size_t n = 0;
	for (size_t i = 0; i < bytes; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static const char *type_message(enum jsonx_type t)
{
	switch (t) {
	case JX_STRING:
		return "deve essere una stringa";
	case JX_BOOL:
		return "deve essere true o false";
	case JX_INT:
		return "deve essere un numero intero";
	case JX_ARRAY:
		return "deve essere un array";
	case JX_OBJECT:
		return "deve essere un oggetto";
	}
	return "tipo non valido";
}

/* Borrows value; checks it against f and fills f->out. Returns true if valid. */
static bool jsonx_read_one(json_t *value, const struct jsonx_field *f, const char *field,
                           json_t *errors)
{
	char msg[128];
	switch (f->type) {
	case JX_STRING: {
		if (!json_is_string(value))
			break;
		const char *s = json_string_value(value);
		size_t bytes = json_string_length(value);
		if (memchr(s, '\0', bytes) != NULL) {
			jsonx_error(errors, field, "format", "non può contenere il carattere NUL");
			return false;
		}
		size_t chars = utf8_chars(s, bytes);
		size_t max = f->max_len ? f->max_len : JSONX_MAX_STRING;
		if (chars < f->min_len) {
			snprintf(msg, sizeof msg, "deve avere almeno %zu caratteri", f->min_len);
			jsonx_error(errors, field, "min_length", msg);
			return false;
		}
		if (chars > max || bytes > JSONX_MAX_STRING) {
			snprintf(msg, sizeof msg, "deve avere al massimo %zu caratteri", max);
			jsonx_error(errors, field, "max_length", msg);
			return false;
		}
		if (f->out)
			*(const char **)f->out = s;
		return true;
	}
	case JX_BOOL:
		if (!json_is_boolean(value))
			break;
		if (f->out)
			*(int *)f->out = json_is_true(value) ? 1 : 0;
		return true;
	case JX_INT:
		if (!json_is_integer(value))
			break;
		if (f->out)
			*(long long *)f->out = (long long)json_integer_value(value);
		return true;
	case JX_ARRAY: {
		if (!json_is_array(value))
			break;
		size_t items = json_array_size(value);
		if (items < f->min_len || (f->max_len && items > f->max_len)) {
			snprintf(msg, sizeof msg, "deve avere tra %zu e %zu elementi", f->min_len,
			         f->max_len);
			jsonx_error(errors, field, "items", msg);
			return false;
		}
		if (f->out)
			*(json_t **)f->out = value;
		return true;
	}
	case JX_OBJECT:
		if (!json_is_object(value))
			break;
		if (f->out)
			*(json_t **)f->out = value;
		return true;
	}
	jsonx_error(errors, field, "type", type_message(f->type));
	return false;
}

/* Borrows obj, spec and errors. */
size_t jsonx_read(json_t *obj, const char *prefix, const struct jsonx_field *spec, size_t n,
                  json_t *errors)
{
	size_t before = json_array_size(errors);
	char field[256];
	if (!json_is_object(obj)) {
		jsonx_error(errors, prefix[0] ? prefix : "", "type", "deve essere un oggetto JSON");
		return json_array_size(errors) - before;
	}
	const char *key;
	json_t *value;
	json_object_foreach(obj, key, value)
	{
		bool known = false;
		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(spec[i].name, key) == 0;
		if (!known) {
			snprintf(field, sizeof field, "%s%s", prefix, key);
			jsonx_error(errors, field, "unknown", "proprietà non prevista");
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct jsonx_field *f = &spec[i];
		snprintf(field, sizeof field, "%s%s", prefix, f->name);
		json_t *v = json_object_get(obj, f->name);
		if (v != NULL && json_is_null(v) && (f->flags & JX_NULLABLE))
			v = NULL;
		if (f->present)
			*f->present = v != NULL;
		if (v == NULL) {
			if (f->flags & JX_REQUIRED)
				jsonx_error(errors, field, "required", "campo obbligatorio");
			continue;
		}
		jsonx_read_one(v, f, field, errors);
	}
	return json_array_size(errors) - before;
}

/* Borrows s and words. */
bool jsonx_in(const char *s, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}
