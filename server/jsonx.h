/* JSON helpers over jansson: bounded parsing and declarative field specs
 * that collect every failing field as {field, rule, message}. */
#ifndef CARTELLA_JSONX_H
#define CARTELLA_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum jsonx_parse_result { JSONX_OK, JSONX_MALFORMED, JSONX_TOO_DEEP };

/* Returns the maximum nesting depth of arrays/objects in buf (strings and
 * escapes are skipped), scanning at most len bytes. Stops early and returns
 * limit+1 as soon as the depth exceeds limit. */
int jsonx_depth(const char *buf, size_t len, int limit);

/* Parses buf (len bytes) into *out (caller owns; json_decref). Rejects
 * duplicate keys, NUL bytes, depth over max_depth. On JSONX_MALFORMED writes
 * "riga L, colonna C" into where (size n). */
enum jsonx_parse_result jsonx_parse(const char *buf, size_t len, int max_depth, json_t **out,
                                    char *where, size_t n);

enum jsonx_type { JX_STRING, JX_BOOL, JX_INT, JX_ARRAY, JX_OBJECT };

#define JX_REQUIRED 1u /* absent → rule "required" */
#define JX_NULLABLE 2u /* null accepted, reported as absent */

struct jsonx_field {
	const char *name;
	enum jsonx_type type;
	unsigned flags;
	size_t min_len; /* strings: characters; arrays: items */
	size_t max_len; /* 0 = no limit (strings always have one: 1 MiB) */
	void *out;      /* JX_STRING: const char ** (borrowed from the json);
	                   JX_BOOL: int * (0/1, untouched when absent);
	                   JX_INT: long long *; JX_ARRAY/JX_OBJECT: json_t ** (borrowed) */
	bool *present;  /* optional: set true when the property is given */
};

/* Returns a new empty error list (caller owns). */
json_t *jsonx_errors_new(void);

/* Appends {field, rule, message} to errors (borrowed). */
void jsonx_error(json_t *errors, const char *field, const char *rule, const char *message);

/* Checks obj (borrowed) against spec[0..n): object type, unknown properties,
 * required ones, types and lengths; fills the outs of valid fields. Field
 * names in errors are prefix + name (prefix may be ""). Returns the number of
 * errors appended to errors. */
size_t jsonx_read(json_t *obj, const char *prefix, const struct jsonx_field *spec, size_t n,
                  json_t *errors);

/* True when s is one of the NULL-terminated list of words. */
bool jsonx_in(const char *s, const char *const *words);

#endif
