/* Small helpers the command-line tools share. */
#ifndef ESPNAT_TOOLS_UTIL_H
#define ESPNAT_TOOLS_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* Reads all of @path (at most @max bytes) into a new NUL-terminated
 * buffer. Returns NULL with errno set. */
char *read_file(const char *path, size_t max, size_t *len);

/* Frees a buffer that may hold keys, wiping it first. */
void free_secret(char *buf, size_t len);

/* Writes @s as a JSON string literal, quotes included. */
void json_string(FILE *f, const char *s);

#endif
