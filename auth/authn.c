#include "auth/authn.h"
#include "auth/client.h"
#include "auth/pdnd.h"
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
	/* Session tokens are base64url: a dot means a JWS, i.e. a voucher. */
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0 && strchr(h + 7, '.') != NULL)
		return pdnd_authenticate(req);
	return session_authenticate(req);
}
