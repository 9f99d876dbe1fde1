#include "tools/daemon/eventq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define REASON_MAX 160

struct slot {
	struct esp_event ev;
	char reason[REASON_MAX];
};

struct eventq {
	pthread_mutex_t lock;
	struct slot *ring;
	unsigned cap;
	unsigned head;		/* next to pop */
	unsigned count;
	uint64_t overflows;
	int fd;
};

struct eventq *eventq_new(unsigned capacity)
{
	struct eventq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->ring = calloc(capacity, sizeof(*q->ring));
	q->cap = capacity;
	q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!q->ring || q->fd < 0 || capacity == 0) {
		eventq_free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	return q;
}

void eventq_free(struct eventq *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->ring);
	free(q);
}

void eventq_push(void *arg, const struct esp_event *ev)
{
	struct eventq *q = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&q->lock);
	if (q->count == q->cap) {
		q->overflows++;
		pthread_mutex_unlock(&q->lock);
		return;
	}
	struct slot *s = &q->ring[(q->head + q->count) % q->cap];
	s->ev = *ev;
	snprintf(s->reason, sizeof(s->reason), "%s", ev->reason ? ev->reason : "");
	s->ev.reason = NULL;
	q->count++;
	pthread_mutex_unlock(&q->lock);
	if (write(q->fd, &one, sizeof(one)) < 0) {
		/* the counter saturating only means the loop is already due */
	}
}

bool eventq_pop(struct eventq *q, struct esp_event *ev, char *reason,
		size_t reason_len)
{
	uint64_t drain;

	pthread_mutex_lock(&q->lock);
	if (q->count == 0) {
		if (read(q->fd, &drain, sizeof(drain)) < 0) {
			/* EAGAIN: already clear */
		}
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	struct slot *s = &q->ring[q->head];
	*ev = s->ev;
	snprintf(reason, reason_len, "%s", s->reason);
	ev->reason = s->reason[0] ? reason : NULL;
	q->head = (q->head + 1) % q->cap;
	q->count--;
	pthread_mutex_unlock(&q->lock);
	return true;
}

int eventq_fd(const struct eventq *q)
{
	return q->fd;
}

uint64_t eventq_overflows(struct eventq *q)
{
	pthread_mutex_lock(&q->lock);
	uint64_t n = q->overflows;
	pthread_mutex_unlock(&q->lock);
	return n;
}
