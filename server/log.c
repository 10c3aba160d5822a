#include "server/log.h"
#include "server/alloc.h"
#include "server/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

static enum log_level min_level = LOGL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	min_level = level;
}

/* Borrows s. */
int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

/* Writes the whole buffer to stderr in one locked sequence of write calls so
 * lines from several threads never interleave. */
static void log_write_line(const char *line, size_t len)
{
	pthread_mutex_lock(&log_lock);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(STDERR_FILENO, line + off, len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	pthread_mutex_unlock(&log_lock);
}

/* Takes fields (may be NULL). */
void log_event(enum log_level level, const char *msg, json_t *fields)
{
	if (level < min_level) {
		json_decref(fields);
		return;
	}
	char now[32];
	util_rfc3339_now(now);
	json_t *o = json_object();
	if (o == NULL) {
		json_decref(fields);
		return;
	}
	json_object_set_new(o, "time", json_string(now));
	json_object_set_new(o, "level", json_string(level_names[level]));
	json_object_set_new(o, "msg", json_string(msg));
	if (fields != NULL) {
		json_object_update_missing(o, fields);
		json_decref(fields);
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(o);
	if (text == NULL)
		return;
	size_t len = strlen(text);
	text[len] = '\0';
	char *line = NULL;
	/* Append the newline in the same write. */
	line = alloc_realloc(text, len + 2);
	if (line == NULL) {
		free(text);
		return;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	log_write_line(line, len + 1);
	free(line);
}

void log_fmt(enum log_level level, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_event(level, buf, NULL);
}
