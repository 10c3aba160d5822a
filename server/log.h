/* JSON-lines logging on stderr. One object per line: time (UTC RFC 3339),
 * level, msg, and the caller's fields. Never pass personal data, tokens,
 * bodies or query strings: callers log ids, route patterns and codes only. */
#ifndef CARTELLA_LOG_H
#define CARTELLA_LOG_H

#include <jansson.h>

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

/* Sets the lowest level written (default LOGL_INFO). */
void log_set_level(enum log_level level);

/* Parses "debug|info|warn|error"; returns -1 when unknown. */
int log_level_parse(const char *s);

/* Writes one line with msg and the members of fields (stolen; may be NULL). */
void log_event(enum log_level level, const char *msg, json_t *fields);

/* Writes one line whose msg is the formatted text. Only for operator-facing
 * text built from constants and numbers. */
void log_fmt(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
