#include "server/jsonx.h"
#include "tests/unit/check.h"

#include <string.h>

/* True when errors holds an entry with this field and rule. */
static int has_error(json_t *errors, const char *field, const char *rule)
{
	size_t i;
	json_t *e;
	json_array_foreach(errors, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0 &&
		    strcmp(json_string_value(json_object_get(e, "rule")), rule) == 0)
			return 1;
	}
	return 0;
}

int main(void)
{
	/* Depth: strings and escapes do not count. */
	CHECK(jsonx_depth("{}", 2, 32) == 1);
	CHECK(jsonx_depth("[[[]]]", 6, 32) == 3);
	CHECK(jsonx_depth("{\"a\":\"[[[[\"}", 12, 32) == 1);
	CHECK(jsonx_depth("{\"a\":\"\\\"[[\"}", 12, 32) == 1);
	char deep[100];
	memset(deep, '[', 40);
	memset(deep + 40, ']', 40);
	CHECK(jsonx_depth(deep, 80, 32) == 33);

	json_t *j = NULL;
	char where[64];
	CHECK(jsonx_parse(deep, 80, 32, &j, where, sizeof where) == JSONX_TOO_DEEP && j == NULL);
	CHECK(jsonx_parse("{\"a\":1", 6, 32, &j, where, sizeof where) == JSONX_MALFORMED);
	CHECK(strstr(where, "riga 1") != NULL);
	CHECK(jsonx_parse("{\"a\":1,\"a\":2}", 13, 32, &j, where, sizeof where) ==
	      JSONX_MALFORMED); /* duplicate keys */
	CHECK(jsonx_parse("{\"a\":1}", 7, 32, &j, where, sizeof where) == JSONX_OK && j != NULL);
	json_decref(j);

	/* Field specs: every failing field is reported, valid ones are filled. */
	json_t *body = json_pack("{s:s, s:i, s:b, s:s, s:[s]}", "name", "Mario", "age", 42,
	                         "active", 1, "extra", "x", "tags", "a");
	const char *name = NULL;
	long long age = 0;
	int active = -1;
	json_t *tags = NULL;
	const char *missing = NULL;
	bool name_present = false;
	const struct jsonx_field spec[] = {
	    {"name", JX_STRING, JX_REQUIRED, 2, 10, &name, &name_present},
	    {"age", JX_INT, 0, 0, 0, &age, NULL},
	    {"active", JX_BOOL, 0, 0, 0, &active, NULL},
	    {"tags", JX_ARRAY, 0, 1, 5, &tags, NULL},
	    {"missing", JX_STRING, JX_REQUIRED, 0, 0, &missing, NULL},
	};
	json_t *errors = jsonx_errors_new();
	size_t n = jsonx_read(body, "", spec, 5, errors);
	CHECK(n == 2);
	CHECK(has_error(errors, "extra", "unknown"));
	CHECK(has_error(errors, "missing", "required"));
	CHECK(name != NULL && strcmp(name, "Mario") == 0 && name_present);
	CHECK(age == 42 && active == 1 && json_array_size(tags) == 1);
	json_decref(errors);
	json_decref(body);

	/* Types and lengths (counted in characters, not bytes). */
	body = json_pack("{s:i, s:s, s:s, s:s}", "name", 5, "short", "a", "utf8", "àèìòù", "long",
	                 "abcdefghijk");
	const struct jsonx_field spec2[] = {
	    {"name", JX_STRING, 0, 0, 0, NULL, NULL},
	    {"short", JX_STRING, 0, 2, 0, NULL, NULL},
	    {"utf8", JX_STRING, 0, 0, 5, NULL, NULL},
	    {"long", JX_STRING, 0, 0, 10, NULL, NULL},
	};
	errors = jsonx_errors_new();
	n = jsonx_read(body, "p.", spec2, 4, errors);
	CHECK(n == 3);
	CHECK(has_error(errors, "p.name", "type"));
	CHECK(has_error(errors, "p.short", "min_length"));
	CHECK(has_error(errors, "p.long", "max_length"));
	CHECK(!has_error(errors, "p.utf8", "max_length"));
	json_decref(errors);
	json_decref(body);

	/* Null is absent only where the spec allows it. */
	body = json_pack("{s:n, s:n}", "a", "b");
	const struct jsonx_field spec3[] = {
	    {"a", JX_STRING, JX_NULLABLE, 0, 0, NULL, NULL},
	    {"b", JX_STRING, 0, 0, 0, NULL, NULL},
	};
	errors = jsonx_errors_new();
	CHECK(jsonx_read(body, "", spec3, 2, errors) == 1 && has_error(errors, "b", "type"));
	json_decref(errors);
	json_decref(body);

	/* A body that is not an object is one error. */
	body = json_array();
	errors = jsonx_errors_new();
	CHECK(jsonx_read(body, "", spec3, 2, errors) == 1);
	json_decref(errors);
	json_decref(body);

	const char *const words[] = {"a", "b", NULL};
	CHECK(jsonx_in("b", words) && !jsonx_in("c", words));
	CHECK_DONE();
}
