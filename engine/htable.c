#include "engine/htable.h"

#include <errno.h>
#include <stdlib.h>

#define INITIAL_BUCKETS 64

int htable_init(struct htable *t)
{
	t->mask = INITIAL_BUCKETS - 1;
	t->count = 0;
	t->b = calloc(INITIAL_BUCKETS, sizeof(*t->b));
	return t->b ? 0 : -ENOMEM;
}

void htable_free(struct htable *t)
{
	free(t->b);
	t->b = NULL;
}

static void grow(struct htable *t)
{
	uint32_t n = (t->mask + 1) * 2;
	struct hnode **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;
	for (uint32_t i = 0; i <= t->mask; i++) {
		struct hnode *h = t->b[i];
		while (h) {
			struct hnode *next = h->next;
			uint32_t j = h->hash & (n - 1);
			h->next = nb[j];
			nb[j] = h;
			h = next;
		}
	}
	free(t->b);
	t->b = nb;
	t->mask = n - 1;
}

void htable_insert(struct htable *t, struct hnode *n, uint32_t hash)
{
	if (t->count > t->mask)
		grow(t);
	n->hash = hash;
	n->next = t->b[hash & t->mask];
	t->b[hash & t->mask] = n;
	t->count++;
}

void htable_remove(struct htable *t, struct hnode *n)
{
	for (struct hnode **pp = &t->b[n->hash & t->mask]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
	}
}
