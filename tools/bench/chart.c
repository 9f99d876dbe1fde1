#include "tools/bench/chart.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define W 900
#define H 520
#define LEFT 70
#define RIGHT 230
#define TOP 50
#define BOTTOM 60
#define MAX_SERIES 20

static const char *const colours[] = {
	"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
	"#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
};

struct series {
	struct bench_alg alg;
	enum bench_op op;
};

static bool same_series(const struct series *s, const struct bench_row *r)
{
	return s->op == r->op && s->alg.enc == r->alg.enc &&
	       s->alg.enc_key_len == r->alg.enc_key_len && s->alg.auth == r->alg.auth;
}

/* Escapes what XML does not allow in text. */
static void put_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

static double x_of(uint32_t size, double lo, double hi)
{
	if (hi <= lo)
		return LEFT + (W - LEFT - RIGHT) / 2.0;
	return LEFT + (log2(size) - log2(lo)) / (log2(hi) - log2(lo)) * (W - LEFT - RIGHT);
}

static double y_of(double gbps, double top)
{
	return H - BOTTOM - gbps / top * (H - TOP - BOTTOM);
}

/* A "nice" axis end above @v: 1, 2 or 5 times a power of ten. */
static double nice_top(double v)
{
	double p = pow(10, floor(log10(v > 0 ? v : 1)));

	for (int m = 1; m <= 10; m *= 2)
		if (v <= m * p)
			return m * p;
	return 10 * p;
}

static void draw_axes(FILE *f, double lo, double hi, double top, const struct bench_row *rows,
		      size_t n)
{
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", LEFT,
		H - BOTTOM, W - RIGHT, H - BOTTOM);
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", LEFT, TOP,
		LEFT, H - BOTTOM);
	for (int i = 0; i <= 5; i++) {
		double v = top * i / 5, y = y_of(v, top);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>"
			"<text x=\"%d\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%g</text>\n",
			LEFT, y, W - RIGHT, y, LEFT - 6, y + 4, v);
	}
	/* a tick per size measured */
	uint32_t done[BENCH_MAX_SIZES];
	size_t ndone = 0;
	for (size_t i = 0; i < n; i++) {
		bool seen = rows[i].size == BENCH_IMIX;
		for (size_t k = 0; k < ndone && !seen; k++)
			seen = done[k] == rows[i].size;
		if (seen || ndone == BENCH_MAX_SIZES)
			continue;
		done[ndone++] = rows[i].size;
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"tick\" text-anchor=\"middle\">%u</text>\n",
			x_of(rows[i].size, lo, hi), H - BOTTOM + 18, rows[i].size);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">IP packet size "
		"(bytes, log scale)</text>\n", (LEFT + W - RIGHT) / 2, H - 18);
	fprintf(f, "<text x=\"18\" y=\"%d\" class=\"axis\" text-anchor=\"middle\" "
		"transform=\"rotate(-90 18 %d)\">Gbit/s of packets in</text>\n",
		(TOP + H - BOTTOM) / 2, (TOP + H - BOTTOM) / 2);
}

static void draw_series(FILE *f, const struct series *s, const char *colour, int index,
			double lo, double hi, double top, const struct bench_row *rows, size_t n)
{
	char name[32];

	for (int bound = 0; bound < 2; bound++) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
			colour, bound ? " stroke-dasharray=\"5,4\" opacity=\"0.7\"" : "");
		for (size_t i = 0; i < n; i++)
			if (same_series(s, &rows[i]) && rows[i].size != BENCH_IMIX)
				fprintf(f, "%.1f,%.1f ", x_of(rows[i].size, lo, hi),
					y_of(bound ? rows[i].bound_gbps : rows[i].gbps, top));
		fputs("\"/>\n", f);
	}
	for (size_t i = 0; i < n; i++)
		if (same_series(s, &rows[i]) && rows[i].size != BENCH_IMIX)
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
				x_of(rows[i].size, lo, hi), y_of(rows[i].gbps, top), colour);
	bench_alg_name(&s->alg, name, sizeof(name));
	int y = TOP + 10 + index * 20;
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>"
		"<text x=\"%d\" y=\"%d\" class=\"legend\">%s %s</text>\n",
		W - RIGHT + 15, y, W - RIGHT + 40, y, colour, W - RIGHT + 46, y + 4, name,
		s->op == BENCH_ENCAP ? "encap" : "decap");
}

int bench_chart_svg(const char *path, const char *title, const struct bench_row *rows, size_t n)
{
	struct series series[MAX_SERIES];
	size_t nseries = 0;
	double lo = 0, hi = 0, top = 0;

	for (size_t i = 0; i < n; i++) {
		if (rows[i].size == BENCH_IMIX)
			continue;
		if (!lo || rows[i].size < lo)
			lo = rows[i].size;
		if (rows[i].size > hi)
			hi = rows[i].size;
		top = fmax(top, fmax(rows[i].gbps, rows[i].bound_gbps));
		bool known = false;
		for (size_t k = 0; k < nseries && !known; k++)
			known = same_series(&series[k], &rows[i]);
		if (!known && nseries < MAX_SERIES)
			series[nseries++] = (struct series){ rows[i].alg, rows[i].op };
	}
	top = nice_top(top);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"DejaVu Sans, sans-serif\">\n"
		"<style>.tick{font-size:11px;fill:#444} .axis{font-size:12px} "
		".legend{font-size:12px} .title{font-size:13px;font-weight:bold}</style>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
	fprintf(f, "<text x=\"%d\" y=\"24\" class=\"title\">", LEFT);
	put_text(f, title);
	fputs("</text>\n", f);
	draw_axes(f, lo, hi, top, rows, n);
	for (size_t k = 0; k < nseries; k++)
		draw_series(f, &series[k], colours[k % (sizeof(colours) / sizeof(colours[0]))],
			    (int)k, lo, hi, top, rows, n);
	fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"legend\">solid: engine</text>"
		"<text x=\"%d\" y=\"%d\" class=\"legend\">dashed: crypto bound</text>\n",
		W - RIGHT + 15, TOP + 30 + (int)nseries * 20, W - RIGHT + 15,
		TOP + 48 + (int)nseries * 20);
	fputs("</svg>\n", f);
	if (ferror(f)) {
		int saved = errno;
		fclose(f);
		errno = saved ? saved : EIO;
		return -1;
	}
	return fclose(f) ? -1 : 0;
}
