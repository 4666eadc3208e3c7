/* SPDX-License-Identifier: ISC */
/*
 * authd_hash.c - the hashing processes: password checks off the event loop
 * (issue 16 item 6: during a login flood, recipient lookups of incoming
 * mail waited up to 10 s behind the scrypts).
 *
 * authd forks up to [authd] hashers (default 2) processes after its
 * privilege drop, on demand: the first when a check arrives and none is
 * idle, the next while checks wait, and each exits after HASH_IDLE_MS
 * without a check (an idle authd is one process; a login after a quiet
 * minute pays one fork, about a millisecond beside the 40 ms scrypt).
 * They run as authd's user in authd's chroot, with no descriptor but
 * their socketpair (no users.db, no listening socket), without the DKIM
 * keys and with the passwords of the other waiting checks wiped.  The main process reads the user's hash from users.db and
 * sends one check at a time to an idle hasher: a frame HASH_CHECK with
 * str service, str user, str stored hash ("" = no such user: the same
 * scrypt is spent on a dummy), data password.  The hasher runs the SASL
 * PLAIN exchange (authd_login.c), wipes the frame, and answers HASH_RESULT
 * with u32 enum authd_check.  Checks beyond the idle hashers wait in a
 * queue fair between client networks (authd_fairq.c): at most
 * AUTHD_HASH_QUEUE_MAX, AUTHD_HASH_NET_MAX of one network, served
 * round-robin by network after those the caller marked as priority.  A
 * check refused by the queue answers TEMPFAIL at once, so does one pushed
 * out of a full queue, and one that waited AUTHD_HASH_WAIT_MS answers
 * TEMPFAIL without its scrypt (its client, lib/authc.c, gives up after
 * 10 s anyway): under a flood the queue stays fresh, and the flood waits
 * in its own networks' turns, not in everybody's.  Passwords waiting in
 * the queue are wiped when sent or dropped.
 *
 * Identical checks share one scrypt: a check of the same service, user,
 * stored hash and password as one already queued or running joins it as
 * a follower and gets its result (a phone opening five connections at
 * once, imaptest's 50 sessions: one scrypt, not 50, and no hasher queue
 * to wait in).  They are matched by HMAC-SHA256 under a per-start secret
 * (a running check's password is already wiped), at most
 * HASH_FOLLOW_MAX followers in all, beyond which checks queue as before.
 * Unknown users join the same way, so joining says nothing about whether
 * a user exists; throttling still counts every failure (authd_req.c).
 *
 * A hasher that dies (or answers garbage) fails its check with TEMPFAIL
 * and its slot waits HASH_RESPAWN_MS before it forks again; the others
 * go on.  A hasher
 * whose parent goes away reads EOF and exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "authd.h"
#include "compat.h"
#include "log.h"
#include "sha256.h"
#include "xmem.h"

#define HASH_MAX		16
#define HASH_RESPAWN_MS		1000
#define HASH_IDLE_MS		60000
#define HASH_CHECK		1
#define HASH_RESULT		2
#define HASH_FOLLOW_MAX		AUTHD_HASH_QUEUE_MAX	/* joined checks, in all */
#define HASH_DIG_LEN		SHA256_LEN

struct hash_job {
	struct authd_fq_item fq;	/* first: the queue links these */
	struct hash_job	*next;		/* on the `failed` list */
	struct hash_job	*followers;	/* identical checks waiting on this one */
	struct hash_job	*next_follower;
	uint8_t		 dig[HASH_DIG_LEN];	/* HMAC of what is checked */
	uint64_t	 queued;	/* ev_now() when submitted */
	const void	*owner;
	authd_hash_cb	*cb;
	void		*arg;
	bool		 cancelled;
	char		 service[AUTHD_SERVICE_MAX + 1];
	char		 user[USERDB_ADDR_MAX];
	char		 stored[USERDB_VALUE_MAX];
	char		 password[AUTHD_PASSWORD_MAX];
	size_t		 passlen;
};

struct hasher {
	struct ipc	 ch;
	pid_t		 pid;		/* 0: not running */
	bool		 up;		/* ch is open */
	bool		 backoff;	/* died: no fork before respawn fires */
	struct hash_job	*job;		/* in progress */
	struct ev_timer	 respawn;
	struct ev_timer	 idle;		/* no check for a while: retire */
};

static struct hasher	 hashers[HASH_MAX];
static unsigned		 nhashers;
static struct authd_fairq *queue;
static uint32_t		 next_id;
static struct hash_job	*failed;	/* to answer TEMPFAIL from fail_timer */
static struct ev_timer	 fail_timer;
static size_t		 nfollowers;
static uint8_t		 dig_secret[32];

static void hash_dispatch(void);

static void
job_free(struct hash_job *j)
{
	explicit_bzero(j, sizeof(*j));
	free(j);
}

/* job_done - tell the owner and those of its followers, free them all */
static void
job_done(struct hash_job *j, enum authd_check res)
{
	struct hash_job *f;

	while ((f = j->followers) != NULL) {
		j->followers = f->next_follower;
		nfollowers--;
		f->cb(f->arg, res, f->cancelled);
		job_free(f);
	}
	j->cb(j->arg, res, j->cancelled);
	job_free(j);
}

/* job_wanted - does anyone still wait for j's result? */
static bool
job_wanted(const struct hash_job *j)
{
	const struct hash_job *f;

	if (!j->cancelled)
		return true;
	for (f = j->followers; f != NULL; f = f->next_follower)
		if (!f->cancelled)
			return true;
	return false;
}

/* job_cancel - mark j and its followers of `owner` (NULL: all) cancelled */
static void
job_cancel(struct hash_job *j, const void *owner)
{
	struct hash_job *f;

	if (owner == NULL || j->owner == owner)
		j->cancelled = true;
	for (f = j->followers; f != NULL; f = f->next_follower)
		if (owner == NULL || f->owner == owner)
			f->cancelled = true;
}

/* job_digest - HMAC-SHA256(secret, service NUL user NUL stored NUL password) */
static bool
job_digest(const char *service, const char *user, const char *stored,
    const char *password, size_t passlen, uint8_t dig[HASH_DIG_LEN])
{
	uint8_t msg[AUTHD_SERVICE_MAX + USERDB_ADDR_MAX + USERDB_VALUE_MAX +
	    AUTHD_PASSWORD_MAX + 3];
	size_t sl = strlen(service) + 1, ul = strlen(user) + 1;
	size_t hl = strlen(stored) + 1, n;

	if (sl + ul + hl + passlen > sizeof(msg))
		return false;
	memcpy(msg, service, sl);
	memcpy(msg + sl, user, ul);
	memcpy(msg + sl + ul, stored, hl);
	memcpy(msg + sl + ul + hl, password, passlen);
	n = sl + ul + hl + passlen;
	hmac_sha256(dig_secret, sizeof(dig_secret), msg, n, dig);
	explicit_bzero(msg, n);
	return true;
}

/* the leader being looked for by find_one */
struct find_ctx {
	const uint8_t	*dig;
	struct hash_job	*found;
};

static void
find_one(struct authd_fq_item *it, void *arg)
{
	struct hash_job *j = (struct hash_job *)it;
	struct find_ctx *fc = arg;

	if (fc->found == NULL && !j->cancelled &&
	    ev_now() - j->queued <= AUTHD_HASH_WAIT_MS &&
	    ct_equal(j->dig, fc->dig, HASH_DIG_LEN))
		fc->found = j;
}

/* job_leader - a queued or running check that j may join, NULL if none */
static struct hash_job *
job_leader(const uint8_t dig[HASH_DIG_LEN])
{
	struct find_ctx fc = { .dig = dig, .found = NULL };
	unsigned i;

	if (nfollowers >= HASH_FOLLOW_MAX)
		return NULL;
	for (i = 0; i < nhashers; i++)
		if (hashers[i].job != NULL && ct_equal(hashers[i].job->dig,
		    dig, HASH_DIG_LEN))
			return hashers[i].job;
	authd_fairq_foreach(queue, find_one, &fc);
	return fc.found;
}

/* job_fail_later - answer TEMPFAIL from the loop, without a scrypt */
static void
job_fail_later(struct hash_job *j)
{
	j->next = failed;
	failed = j;
	ev_timer_add(&fail_timer, 0);
}

/* ---- the hasher process ---- */

static void __attribute__((noreturn))
hasher_main(int fd)
{
	static uint8_t store[IPC_MAX_PAYLOAD];
	const char *service, *user, *stored;
	const void *pw;
	struct ipc_msg m;
	struct ipc_out o;
	uint32_t res;
	size_t n, pwlen;

	for (;;) {
		if (ipc_read_sync(fd, &m, store, -1) == -1)
			_exit(0);	/* authd is gone */
		res = CHECK_TEMPFAIL;
		if (m.hdr.type == HASH_CHECK && ipc_get_str(&m, &service, &n) &&
		    ipc_get_str(&m, &user, &n) && ipc_get_str(&m, &stored, &n) &&
		    ipc_get_data(&m, &pw, &pwlen) && ipc_get_end(&m))
			res = authd_login_check(service, user,
			    stored[0] != '\0' ? stored : NULL, pw, pwlen);
		explicit_bzero(store, m.hdr.len);
		ipc_out_init(&o);
		ipc_put_u32(&o, res);
		if (ipc_write_sync(fd, HASH_RESULT, m.hdr.id, -1, &o) == -1)
			_exit(0);
	}
}

static void
wipe_waiting(struct authd_fq_item *it, void *arg)
{
	struct hash_job *j = (struct hash_job *)it;

	(void)arg;
	explicit_bzero(j->password, sizeof(j->password));
}

void
authd_child_shed(int fd, const char *ident)
{
	sigset_t none;

	/* forked on demand: checks waiting in the queue are not its own */
	if (queue != NULL)
		authd_fairq_foreach(queue, wipe_waiting, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);	/* ev_signal blocked them */
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (fd != 3) {
		if (dup2(fd, 3) == -1)
			_exit(1);
		close(fd);
	}
	closefrom(4);		/* the epoll fd, the listening socket, peers */
	log_set_ident(ident);
}

/* hasher_child - in the new process: shed what a hasher must not hold */
static void __attribute__((noreturn))
hasher_child(int fd)
{
	authd_dkim_free();
	authd_child_shed(fd, "authd-hash");
	hasher_main(3);
}

static void on_hasher_msg(struct ipc *ch, struct ipc_msg *m, void *arg);
static void on_hasher_close(struct ipc *ch, void *arg);

/* hasher_spawn - fork hasher h; false if it could not */
static bool
hasher_spawn(struct hasher *h)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("hasher socketpair");
		return false;
	}
	if ((pid = fork()) == -1) {
		log_warn("hasher fork");
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	if (pid == 0) {
		close(sv[0]);
		hasher_child(sv[1]);
	}
	close(sv[1]);
	h->pid = pid;
	h->up = true;
	ipc_init(&h->ch, sv[0], on_hasher_msg, on_hasher_close, h);
	ipc_secret(&h->ch);	/* the jobs carry passwords */
	return true;
}

static void
on_respawn(struct ev_timer *t, void *arg)
{
	struct hasher *h = arg;

	(void)t;
	h->backoff = false;
	hash_dispatch();	/* forks it if a check waits */
}

/* on_idle - a minute without a check: close its channel, it exits */
static void
on_idle(struct ev_timer *t, void *arg)
{
	struct hasher *h = arg;

	(void)t;
	if (!h->up || h->job != NULL)
		return;
	h->up = false;
	ipc_close(&h->ch);	/* EOF: it exits; on_child reaps it */
}

/* hasher_down - the channel is gone: fail its check, respawn later */
static void
hasher_down(struct hasher *h, const char *why)
{
	struct hash_job *j = h->job;

	if (!h->up)
		return;
	log_warnx("hasher pid=%ld: %s", (long)h->pid, why);
	h->up = false;
	h->job = NULL;
	ipc_close(&h->ch);
	ev_timer_del(&h->idle);
	if (h->pid != 0)
		(void)kill(h->pid, SIGKILL);
	h->backoff = true;
	ev_timer_add(&h->respawn, HASH_RESPAWN_MS);
	if (j != NULL)
		job_done(j, CHECK_TEMPFAIL);
}

static void
on_hasher_close(struct ipc *ch, void *arg)
{
	(void)ch;
	hasher_down(arg, "went away");
}

static void
on_hasher_msg(struct ipc *ch, struct ipc_msg *m, void *arg)
{
	struct hasher *h = arg;
	struct hash_job *j = h->job;
	uint32_t res;

	(void)ch;
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
	if (j == NULL || m->hdr.type != HASH_RESULT ||
	    !ipc_get_u32(m, &res) || !ipc_get_end(m) ||
	    (res != CHECK_OK && res != CHECK_FAIL && res != CHECK_TEMPFAIL)) {
		hasher_down(h, "unexpected answer");
		return;
	}
	h->job = NULL;
	job_done(j, (enum authd_check)res);
	hash_dispatch();
}

/* hasher_send - give job j to the idle hasher h; the password is wiped */
static void
hasher_send(struct hasher *h, struct hash_job *j)
{
	struct ipc_out o;

	ipc_out_init(&o);
	ipc_put_str(&o, j->service);
	ipc_put_str(&o, j->user);
	ipc_put_str(&o, j->stored);
	ipc_put_data(&o, j->password, j->passlen);
	explicit_bzero(j->password, sizeof(j->password));
	explicit_bzero(j->stored, sizeof(j->stored));
	if (++next_id == 0)
		next_id = 1;
	if (ipc_send(&h->ch, HASH_CHECK, next_id, -1, &o) == -1) {
		/* the check cannot be redone (its password is wiped): fail it
		 * from the loop, not from inside authd_hash_submit() */
		job_fail_later(j);
		hasher_down(h, "cannot send a check");
	} else {
		h->job = j;
		ev_timer_del(&h->idle);
	}
	explicit_bzero(&o, sizeof(o));
}

static void
on_fail_timer(struct ev_timer *t, void *arg)
{
	struct hash_job *j;

	(void)t;
	(void)arg;
	while ((j = failed) != NULL) {
		failed = j->next;
		job_done(j, CHECK_TEMPFAIL);
	}
}

/* queue_pop - the next check still worth a scrypt, NULL if none */
static struct hash_job *
queue_pop(void)
{
	struct hash_job *j;

	while ((j = (struct hash_job *)authd_fairq_pop(queue)) != NULL) {
		if (job_wanted(j) && ev_now() - j->queued <= AUTHD_HASH_WAIT_MS)
			return j;
		job_fail_later(j);	/* nobody waits for it any more */
	}
	return NULL;
}

/*
 * hash_dispatch - hand queued checks to idle hashers, forking one where
 * a slot is free (not running, not waiting after a death); an idle
 * hasher retires after HASH_IDLE_MS
 */
static void
hash_dispatch(void)
{
	struct hasher *h;
	struct hash_job *j;
	unsigned i;

	for (i = 0; i < nhashers; i++) {
		h = &hashers[i];
		if (h->job != NULL)
			continue;
		if (!h->up && (h->pid != 0 || h->backoff ||
		    authd_fairq_len(queue) == 0 || !hasher_spawn(h)))
			continue;
		if ((j = queue_pop()) == NULL) {
			if (!ev_timer_pending(&h->idle))
				ev_timer_add(&h->idle, HASH_IDLE_MS);
			continue;
		}
		hasher_send(h, j);
	}
}

static void
on_child(int sig, void *arg)
{
	pid_t pid;
	unsigned i;
	int st;

	(void)sig;
	(void)arg;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < nhashers; i++)
			if (hashers[i].pid == pid) {
				hashers[i].pid = 0;
				hasher_down(&hashers[i], "exited");
			}
	hash_dispatch();	/* a retired slot may be needed again */
}

int
authd_hash_start(unsigned n)
{
	unsigned i;

	if (n < 1)
		n = 1;
	nhashers = n < HASH_MAX ? n : HASH_MAX;
	if (rand_bytes(dig_secret, sizeof(dig_secret)) == -1)
		return -1;
	if ((queue = authd_fairq_new(AUTHD_HASH_QUEUE_MAX,
	    AUTHD_HASH_NET_MAX)) == NULL)
		return -1;
	ev_timer_init(&fail_timer, on_fail_timer, NULL);
	ev_signal(SIGCHLD, on_child, NULL);
	for (i = 0; i < nhashers; i++) {
		ev_timer_init(&hashers[i].respawn, on_respawn, &hashers[i]);
		ev_timer_init(&hashers[i].idle, on_idle, &hashers[i]);
	}
	return 0;	/* hash_dispatch forks them when checks come */
}

void
authd_hash_stop(void)
{
	struct hash_job *j;
	unsigned i;

	while (queue != NULL &&
	    (j = (struct hash_job *)authd_fairq_pop(queue)) != NULL) {
		job_cancel(j, NULL);
		job_done(j, CHECK_TEMPFAIL);
	}
	authd_fairq_free(&queue);
	ev_timer_del(&fail_timer);
	on_fail_timer(&fail_timer, NULL);
	for (i = 0; i < nhashers; i++) {
		struct hasher *h = &hashers[i];

		ev_timer_del(&h->respawn);
		ev_timer_del(&h->idle);
		if (h->up) {
			h->up = false;
			ipc_close(&h->ch);	/* EOF: it exits */
		}
		if (h->job != NULL) {
			job_cancel(h->job, NULL);
			job_done(h->job, CHECK_TEMPFAIL);
			h->job = NULL;
		}
		if (h->pid != 0) {
			(void)kill(h->pid, SIGTERM);
			(void)waitpid(h->pid, NULL, 0);
			h->pid = 0;
		}
	}
}

enum authd_fq_res
authd_hash_submit(const void *owner, const char *net, bool prio,
    const char *service, const char *user, const char *stored,
    const char *password, size_t passlen, authd_hash_cb *cb, void *arg)
{
	struct authd_fq_item *out;
	enum authd_fq_res res;
	struct hash_job *j, *lead;

	if (queue == NULL || passlen > AUTHD_PASSWORD_MAX ||
	    (j = calloc(1, sizeof(*j))) == NULL)
		return FQ_FULL;
	if (!bstrcpy(j->service, service, sizeof(j->service)) ||
	    !bstrcpy(j->user, user, sizeof(j->user)) ||
	    !bstrcpy(j->stored, stored ? stored : "", sizeof(j->stored))) {
		job_free(j);
		return FQ_FULL;
	}
	j->queued = ev_now();
	j->owner = owner;
	j->cb = cb;
	j->arg = arg;
	if (!job_digest(service, user, j->stored, password, passlen, j->dig)) {
		job_free(j);
		return FQ_FULL;
	}
	if ((lead = job_leader(j->dig)) != NULL) {
		/* the same check is under way: wait for its result */
		explicit_bzero(j->stored, sizeof(j->stored));
		j->next_follower = lead->followers;
		lead->followers = j;
		nfollowers++;
		return FQ_QUEUED;
	}
	memcpy(j->password, password, passlen);
	j->passlen = passlen;
	if ((res = authd_fairq_push(queue, &j->fq, net, prio, &out)) !=
	    FQ_QUEUED) {
		job_free(j);
		return res;
	}
	if (out != NULL)	/* pushed out of the full queue: TEMPFAIL */
		job_fail_later((struct hash_job *)out);
	hash_dispatch();
	return FQ_QUEUED;
}

enum authd_fq_res
authd_hash_room(const char *net)
{
	return queue != NULL ? authd_fairq_room(queue, net) : FQ_FULL;
}

static void
cancel_one(struct authd_fq_item *it, void *owner)
{
	job_cancel((struct hash_job *)it, owner);
}

void
authd_hash_cancel(const void *owner)
{
	unsigned i;

	if (queue != NULL)
		authd_fairq_foreach(queue, cancel_one, (void *)owner);
	for (i = 0; i < nhashers; i++)
		if (hashers[i].job != NULL)
			job_cancel(hashers[i].job, owner);
}

size_t
authd_hash_busy(void)
{
	size_t n = queue != NULL ? authd_fairq_len(queue) : 0;
	unsigned i;

	for (i = 0; i < nhashers; i++)
		if (hashers[i].job != NULL)
			n++;
	return n;
}
