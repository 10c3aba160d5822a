#include "auth/authn.h"
#include "auth/client.h"
#include "auth/session.h"
#include "server/http.h"

#include <string.h>
#include <strings.h>

/* Borrows req; the chosen module sets its principal. */
int authn_authenticate(struct http_req *req)
{
	const char *h = http_header(req, "Authorization");
	if (h != NULL && strncasecmp(h, "Basic ", 6) == 0)
		return client_authenticate(req);
	return session_authenticate(req);
}
