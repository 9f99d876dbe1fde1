/* The SA file: one SA per line in the words of `ip xfrm state add`
 * (without those three words), `#` comments, `\` continuing a line. */
#ifndef ESPNAT_SAFILE_H
#define ESPNAT_SAFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"
#include "engine/sa.h"

#define ESP_SAFILE_ERRLEN 256

/* Parses one SA description. Returns 1 when it holds an SA (in @p), 0 when
 * it is blank or only a comment, -1 on error with the reason in @err.
 * @p holds keys afterwards: wipe it. */
int esp_safile_parse_line(const char *line, struct esp_sa_params *p,
			  char *err, size_t errlen);

/* Adds every SA of the file @text to @e. All or nothing: on the first bad
 * line nothing stays added, and @err says "line N: reason". Returns the
 * number of SAs added, or -1. */
int esp_safile_load(struct esp_engine *e, const char *text, size_t len,
		    char *err, size_t errlen);

/* Formats SA parameters as an SA-file line (see esp_sa_format). */
int esp_sa_params_format(const struct esp_sa_params *p, char *buf, size_t len,
			 bool show_keys);

/* Formats @sa as an SA-file line. Keys are printed only when @show_keys;
 * otherwise they read <hidden>. Returns what snprintf would. */
int esp_sa_format(const struct esp_sa *sa, char *buf, size_t len,
		  bool show_keys);

#endif
