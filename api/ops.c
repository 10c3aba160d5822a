/* Operational endpoints: health, metrics, the contract. */
#include "api/api.h"
#include "server/arena.h"
#include "server/db.h"
#include "server/embedded.h"
#include "server/http.h"
#include "server/metrics.h"

#include <string.h>

/* GET /status: ModI health check, problem+json; 503 when the database is not
 * reachable. */
int api_status(struct http_req *req)
{
	if (db_ping() != DB_OK) {
		http_add_header(req, "Retry-After", "5");
		return http_reply_problem(req, PROBLEM_UNAVAILABLE, "Database non raggiungibile");
	}
	return http_reply_problem(req, PROBLEM_OK_STATUS, NULL);
}

int api_metrics(struct http_req *req)
{
	size_t len = 0;
	char *text = metrics_render(req->arena, &len);
	if (text == NULL)
		return -1;
	return http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

int api_openapi(struct http_req *req)
{
	return http_reply_text(req, 200, "application/yaml; charset=utf-8", embedded_openapi_yaml,
	                       strlen(embedded_openapi_yaml));
}
