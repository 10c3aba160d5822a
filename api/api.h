/* The API handlers, one file per resource, and the route table that names
 * each handler's policy action. */
#ifndef CARTELLA_API_H
#define CARTELLA_API_H

#include <jansson.h>
#include <stddef.h>

#include "server/router.h"

struct http_req;

/* The route table (static storage) and its length. */
const struct route *api_routes(size_t *n);

/* ops.c */
int api_status(struct http_req *req);
int api_metrics(struct http_req *req);
int api_openapi(struct http_req *req);

/* sessions.c */
int api_session_create(struct http_req *req);
int api_session_read(struct http_req *req);
int api_session_delete(struct http_req *req);

/* users.c */
int api_user_list(struct http_req *req);
int api_user_create(struct http_req *req);
int api_user_read(struct http_req *req);
int api_user_update(struct http_req *req);

/* Shared by handlers: the role names of a bit set as a JSON array (new ref). */
json_t *api_roles_json(unsigned roles);

/* Replies 400 "corpo JSON obbligatorio" when the request has no JSON object
 * body; returns 1 then, else 0. */
int api_require_body(struct http_req *req);

#endif
