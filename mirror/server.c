/*
 * One primary at a time: the first connection gets a session thread;
 * while it runs, another connection is told BUSY (after its HELLO, so
 * that the refusal is read rather than lost to a reset).
 */
#include <stdio.h>
#include <string.h>

#include "channel_internal.h"
#include "mlog.h"
#include "server.h"

void server_init(struct mirror_server *s, struct pool *pool,
		 const struct nvmr_key *key)
{
	memset(s, 0, sizeof(*s));
	s->pool = pool;
	s->key = *key;
	replica_init(&s->replica, pool);
	pthread_mutex_init(&s->mu, NULL);
}


static void *session_thread(void *arg)
{
	struct mirror_server *s = arg;
	pthread_mutex_lock(&s->mu);
	struct nvmr_channel *ch = s->active;
	pthread_mutex_unlock(&s->mu);
	session_run(s, ch);
	pthread_mutex_lock(&s->mu);
	s->running = false;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void refuse_busy(struct nvmr_channel *ch, const char *serving)
{
	char text[256], err[512];
	uint16_t type;
	const uint8_t *p;
	size_t len;
	/* Whatever it says first (HELLO), then the refusal. */
	(void)nvmr_recv(ch, MIRROR_BUSY_WAIT_MS, &type, &p, &len, err,
			sizeof(err));
	snprintf(text, sizeof(text), "busy: this mirror serves the primary at "
		 "%s; one primary at a time", serving);
	nvmr_refuse(ch, NVMR_REFUSE_BUSY, text);
	mlog(LOG_WARNING, "%s: refused: %s", nvmr_peer(ch), text);
	nvmr_close(ch);
}

/* Joins a session thread that has ended; false if one still runs. */
static bool reap(struct mirror_server *s)
{
	pthread_mutex_lock(&s->mu);
	bool busy = s->running;
	bool join = s->has_thread && !busy;
	pthread_mutex_unlock(&s->mu);
	if (join) {
		pthread_join(s->thread, NULL);
		s->has_thread = false;
	}
	return !busy;
}

void server_take(struct mirror_server *s, struct nvmr_channel *ch)
{
	if (!reap(s)) {
		char serving[NVMR_PEER_MAX];
		pthread_mutex_lock(&s->mu);
		snprintf(serving, sizeof(serving), "%s", s->active_peer);
		pthread_mutex_unlock(&s->mu);
		refuse_busy(ch, serving);
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->active = ch;
	snprintf(s->active_peer, sizeof(s->active_peer), "%s", nvmr_peer(ch));
	s->running = true;
	pthread_mutex_unlock(&s->mu);
	if (pthread_create(&s->thread, NULL, session_thread, s) != 0) {
		mlog(LOG_ERR, "%s: cannot start a session thread",
		     nvmr_peer(ch));
		pthread_mutex_lock(&s->mu);
		s->active = NULL;
		s->running = false;
		pthread_mutex_unlock(&s->mu);
		nvmr_close(ch);
		return;
	}
	s->has_thread = true;
}

void server_stop(struct mirror_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	if (s->active)
		nvmr_shutdown(s->active);
	pthread_mutex_unlock(&s->mu);
	if (s->has_thread) {
		pthread_join(s->thread, NULL);
		s->has_thread = false;
	}
}
