/*
 * Connections and the one session (see server.h): a thread per
 * connection, at most MIRROR_MAX_CONNS of them; the session belongs to
 * the first connection that proves the key while none holds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "channel_internal.h"
#include "mlog.h"
#include "server.h"

struct conn_arg {
	struct mirror_server *s;
	struct nvmr_channel *ch;
};

void server_init(struct mirror_server *s, struct pool *pool,
		 const struct nvmr_key *key)
{
	memset(s, 0, sizeof(*s));
	s->pool = pool;
	s->key = *key;
	replica_init(&s->replica, pool);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
}

/* Takes ch off the list of connections (mu held). */
static void forget_conn(struct mirror_server *s, struct nvmr_channel *ch)
{
	for (int i = 0; i < s->nconns; i++)
		if (s->conns[i] == ch) {
			s->conns[i] = s->conns[s->nconns - 1];
			s->conn_since[i] = s->conn_since[s->nconns - 1];
			s->nconns--;
			break;
		}
	pthread_cond_broadcast(&s->cv);
}

static void *conn_thread(void *arg)
{
	struct conn_arg a = *(struct conn_arg *)arg;
	free(arg);
	session_run(a.s, a.ch);          /* closes nothing: we do */
	pthread_mutex_lock(&a.s->mu);
	forget_conn(a.s, a.ch);
	pthread_mutex_unlock(&a.s->mu);
	nvmr_close(a.ch);
	/*
	 * OpenSSL's state of this thread (its random generators) goes now,
	 * not at the thread's exit, which may come after the process's.
	 */
	OPENSSL_thread_stop();
	/* Last: server_stop waits for this, so nothing is freed after exit. */
	pthread_mutex_lock(&a.s->mu);
	a.s->threads--;
	pthread_cond_broadcast(&a.s->cv);
	pthread_mutex_unlock(&a.s->mu);
	return NULL;
}

/*
 * Full: the oldest connection that has not proven the key is cut (its
 * thread sees its handshake fail), so unproven peers cannot fill the
 * table for long (mu held).  False when every one is the session's.
 */
static bool make_room(struct mirror_server *s)
{
	int oldest = -1;
	for (int i = 0; i < s->nconns; i++)
		if (s->conns[i] != s->active &&
		    (oldest < 0 || s->conn_since[i] < s->conn_since[oldest]))
			oldest = i;
	if (oldest < 0)
		return false;
	mlog(LOG_WARNING, "%s: cut: too many connections that have not "
	     "proven the key", nvmr_peer(s->conns[oldest]));
	nvmr_shutdown(s->conns[oldest]);
	return true;
}

void server_take(struct mirror_server *s, struct nvmr_channel *ch)
{
	struct conn_arg *a = malloc(sizeof(*a));
	pthread_mutex_lock(&s->mu);
	if (s->nconns == MIRROR_MAX_CONNS)
		make_room(s);
	/* The cut connection's thread takes itself off the list. */
	while (s->nconns == MIRROR_MAX_CONNS && !s->stopping)
		pthread_cond_wait(&s->cv, &s->mu);
	bool ok = a && !s->stopping;
	if (ok) {
		s->conns[s->nconns] = ch;
		s->conn_since[s->nconns] = nvmr_now_ns();
		s->nconns++;
		s->threads++;
	}
	pthread_mutex_unlock(&s->mu);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (ok) {
		*a = (struct conn_arg){ s, ch };
		ok = pthread_create(&t, &attr, conn_thread, a) == 0;
		if (!ok) {
			mlog(LOG_ERR, "%s: cannot start a thread", nvmr_peer(ch));
			pthread_mutex_lock(&s->mu);
			forget_conn(s, ch);
			s->threads--;
			pthread_mutex_unlock(&s->mu);
		}
	}
	pthread_attr_destroy(&attr);
	if (!ok) {
		free(a);
		nvmr_close(ch);
	}
}

bool server_claim(struct mirror_server *s, struct nvmr_channel *ch,
		  char *text, size_t textlen)
{
	pthread_mutex_lock(&s->mu);
	bool ok = !s->active && !s->stopping;
	if (ok) {
		s->active = ch;
		snprintf(s->active_peer, sizeof(s->active_peer), "%s",
			 nvmr_peer(ch));
	} else {
		snprintf(text, textlen, "busy: this mirror serves the primary "
			 "at %s; one primary at a time", s->active_peer);
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void server_release(struct mirror_server *s, struct nvmr_channel *ch)
{
	pthread_mutex_lock(&s->mu);
	if (s->active == ch)
		s->active = NULL;
	pthread_mutex_unlock(&s->mu);
}

void server_stop(struct mirror_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	for (int i = 0; i < s->nconns; i++)
		nvmr_shutdown(s->conns[i]);
	while (s->nconns || s->threads)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}
