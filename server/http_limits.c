#include "server/http_limits.h"
#include "server/config.h"

#include <string.h>

/* Running size of a request's query arguments or header fields. */
struct http_size {
	size_t bytes;
	unsigned fields;
};

/* MHD iterator: adds one field (name, value and the separators around them)
 * to the http_size at cls. Borrows everything. */
static enum MHD_Result http_count_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
	(void)kind;
	struct http_size *sz = cls;
	sz->bytes += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
	sz->fields++;
	return MHD_YES;
}

/* Borrows c and path. */
enum problem_id http_limits_check(struct MHD_Connection *c, const char *path)
{
	size_t limit = (size_t)config.conn_memory / 4;
	struct http_size query = {strlen(path), 0}, head = {0, 0};
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, http_count_field, &query);
	if (query.bytes > limit)
		return PROBLEM_URI_TOO_LONG;
	MHD_get_connection_values(c, MHD_HEADER_KIND, http_count_field, &head);
	if (query.bytes + head.bytes > limit || head.fields > HTTP_LIMITS_MAX_FIELDS)
		return PROBLEM_HEADERS_TOO_LARGE;
	return PROBLEM_OK_STATUS;
}
