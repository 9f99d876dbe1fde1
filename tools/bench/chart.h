/* The benchmark's chart: Gbit/s against packet size, an engine line and a
 * dashed bound line per algorithm and operation. */
#ifndef ESPNAT_TOOLS_BENCH_CHART_H
#define ESPNAT_TOOLS_BENCH_CHART_H

#include "tools/bench/bench.h"

/* Writes an SVG to @path; IMIX rows are left out (no size to place them
 * at). 0, or -1 with errno set. */
int bench_chart_svg(const char *path, const char *title, const struct bench_row *rows,
		    size_t n);

#endif
