/* SPDX-License-Identifier: ISC */
/*
 * maildir.c - safe Maildir delivery: tmp/, fsync, rename into new/, fsync
 * of new/ (see maildir.h).  Directories made at the first delivery have
 * their parents fsync'd (lib/dirsync.h) before anything is written in
 * them, so that a power cut cannot take a delivered message's new/ away;
 * so have those found already there, once per process and Maildir
 * (maildir_create_once): an earlier run may have died before its fsync.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirsync.h"
#include "fsyncv.h"
#include "maildir.h"
#include "xmem.h"

static int	write_all(int fd, const char *p, size_t n);

static int
mkdir_p(const char *path)
{
	char tmp[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir_durable(tmp, 0700) == -1)
			return -1;
		tmp[i] = path[i];
	}
	return 0;
}

int
maildir_create(const char *dir)
{
	static const char *sub[] = { "tmp", "new", "cur" };
	char path[4096];
	size_t i;

	if (mkdir_p(dir) == -1)
		return -1;
	for (i = 0; i < 3; i++) {
		if (!bsnprintf(path, sizeof(path), "%s/%s", dir, sub[i])) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	/* one fsync of dir for the three entries, made now or by a run
	 * that died before this fsync (lib/dirsync.h) */
	return fsync_parent_existing(path);
}

/*
 * The Maildirs this process made durable (maildir_create_once), at most
 * ONCE_MAX; past that the list starts again (each forgotten one costs its
 * directory fsyncs once more, nothing else).
 */
#define ONCE_MAX	1024
static char	*durable[ONCE_MAX];
static size_t	 ndurable;

int
maildir_create_once(const char *dir)
{
	size_t i;

	for (i = 0; i < ndurable; i++)
		if (strcmp(durable[i], dir) == 0)
			return 0;
	if (maildir_create(dir) == -1)
		return -1;
	if (ndurable == ONCE_MAX) {
		for (i = 0; i < ndurable; i++)
			free(durable[i]);
		ndurable = 0;
	}
	durable[ndurable++] = xstrdup(dir);
	return 0;
}

/* subscribe - append name to root/subscriptions unless it is there */
static void
subscribe(const char *root, const char *name)
{
	char path[4096], line[256];
	size_t n = strlen(name);
	FILE *f;
	int fd;

	if (!bsnprintf(path, sizeof(path), "%s/subscriptions", root))
		return;
	if ((f = fopen(path, "re")) != NULL) {
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, name, n) == 0 && line[n] == '\n') {
				fclose(f);
				return;
			}
		fclose(f);
	}
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return;
	(void)write_all(fd, name, n);
	(void)write_all(fd, "\n", 1);
	close(fd);
}

int
maildir_folder(const char *root, const char *name, char *out, size_t outsz)
{
	char path[4096];
	struct stat st;
	int fd;

	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (!bsnprintf(out, outsz, "%s/.%s", root, name) ||
	    !bsnprintf(path, sizeof(path), "%s/maildirfolder", out)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (stat(path, &st) == 0)
		return 0;
	if (maildir_create(root) == -1 || maildir_create(out) == -1)
		return -1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return -1;
	close(fd);
	subscribe(root, name);
	return 0;
}

bool
maildir_exists(const char *dir, const char *base)
{
	static const char *sub[] = { "new", "cur" };
	struct dirent *de;
	char path[4096];
	size_t i, n = strlen(base);
	bool found = false;
	DIR *d;

	for (i = 0; i < 2 && !found; i++) {
		if (!bsnprintf(path, sizeof(path), "%s/%s", dir, sub[i]) ||
		    (d = opendir(path)) == NULL)
			continue;
		while (!found && (de = readdir(d)) != NULL)
			found = strncmp(de->d_name, base, n) == 0 &&
			    (de->d_name[n] == '\0' || de->d_name[n] == ':' ||
			    de->d_name[n] == ',');
		closedir(d);
	}
	return found;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
maildir_index_load(struct maildir_index *ix, const char *dir)
{
	static const char *sub[] = { "new", "cur" };
	struct dirent *de;
	char path[4096];
	size_t i, cap = 0;
	DIR *d;

	memset(ix, 0, sizeof(*ix));
	ix->dir = xstrdup(dir);
	for (i = 0; i < 2; i++) {
		if (!bsnprintf(path, sizeof(path), "%s/%s", dir, sub[i])) {
			maildir_index_free(ix);
			errno = ENAMETOOLONG;
			return -1;
		}
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (ix->n == cap) {
				cap = cap ? cap * 2 : 256;
				ix->names = xreallocarray(ix->names, cap,
				    sizeof(*ix->names));
			}
			ix->names[ix->n++] = xstrdup(de->d_name);
		}
		closedir(d);
	}
	if (ix->n > 1)
		qsort(ix->names, ix->n, sizeof(*ix->names), name_cmp);
	return 0;
}

bool
maildir_index_has(const struct maildir_index *ix, const char *base)
{
	size_t lo = 0, hi = ix->n, n = strlen(base);

	/* the first name >= base; names starting with base follow it */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ix->names[mid], base) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ix->n && strncmp(ix->names[lo], base, n) == 0; lo++) {
		char c = ix->names[lo][n];

		if (c == '\0' || c == ':' || c == ',')
			return true;
	}
	return false;
}

void
maildir_index_free(struct maildir_index *ix)
{
	size_t i;

	for (i = 0; i < ix->n; i++)
		free(ix->names[i]);
	free(ix->names);
	free(ix->dir);
	memset(ix, 0, sizeof(*ix));
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* count_lf - line ends in p, for the CRLF size */
static uint64_t
count_lf(const char *p, size_t n)
{
	uint64_t c = 0;
	const char *e = p + n;

	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		c++;
		p++;
	}
	return c;
}

/*
 * copy_body - hdr, then len bytes of src from offset 0, to dst; adds the
 * body's LFs to *nlf.  A short header goes in front of the first chunk:
 * one write for both.
 */
static int
copy_body(int dst, const char *hdr, size_t hdrlen, int src, uint64_t len,
    uint64_t *nlf)
{
	char chunk[65536];
	size_t pre = 0;
	off_t off = 0;
	ssize_t r;

	if (hdrlen <= sizeof(chunk) / 2 && len > 0) {
		memcpy(chunk, hdr, hdrlen);
		pre = hdrlen;
	} else if (write_all(dst, hdr, hdrlen) == -1)
		return -1;
	while ((uint64_t)off < len) {
		size_t want = sizeof(chunk) - pre;

		if (want > len - (uint64_t)off)
			want = (size_t)(len - (uint64_t)off);
		if ((r = pread(src, chunk + pre, want, off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;	/* the queue file is shorter than said */
			return -1;
		}
		if (write_all(dst, chunk, pre + (size_t)r) == -1)
			return -1;
		*nlf += count_lf(chunk + pre, (size_t)r);
		off += r;
		pre = 0;
	}
	return 0;
}

void
maildir_tmp_free(struct maildir_tmp *t)
{
	if (t->fd != -1) {
		close(t->fd);
		if (t->tmp != NULL)
			(void)unlinkat(t->tmpdir, t->tmp, 0);
	}
	if (t->tmpdir != -1 && !t->shared)
		close(t->tmpdir);
	if (t->newdir != -1 && !t->shared)
		close(t->newdir);
	free(t->dir);
	free(t->tmp);
	free(t->dst);
	memset(t, 0, sizeof(*t));
	t->fd = t->tmpdir = t->newdir = -1;
}

/* maildir_open_dirs - dir/tmp and dir/new, no symlink in the last three names */
static int
maildir_open_dirs(const char *dir, struct maildir_tmp *t)
{
	const int fl = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	int root, saved;

	if ((root = open(dir, fl)) == -1)
		return -1;
	t->tmpdir = openat(root, "tmp", fl);
	t->newdir = openat(root, "new", fl);
	saved = errno;
	close(root);
	errno = saved;
	return t->tmpdir == -1 || t->newdir == -1 ? -1 : 0;
}

int
maildir_write(const char *dir, const char *base, const char *hdr,
    size_t hdrlen, int srcfd, uint64_t len, struct maildir_tmp *t,
    const struct maildir_tmp *same)
{
	uint64_t nlf = count_lf(hdr, hdrlen);
	int saved;

	memset(t, 0, sizeof(*t));
	t->fd = t->tmpdir = t->newdir = -1;
	if (same != NULL && same->dir != NULL && strcmp(same->dir, dir) == 0) {
		t->tmpdir = same->tmpdir;
		t->newdir = same->newdir;
		t->shared = true;
	} else if (maildir_open_dirs(dir, t) == -1)
		goto fail;
	t->dir = xstrdup(dir);
	t->tmp = xstrdup(base);
	/* a file left by a crash has our name: remove it, never write through it */
	t->fd = openat(t->tmpdir, base, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (t->fd == -1 && errno == EEXIST && unlinkat(t->tmpdir, base, 0) == 0)
		t->fd = openat(t->tmpdir, base, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (t->fd == -1)
		goto fail;
	if (copy_body(t->fd, hdr, hdrlen, srcfd, len, &nlf) == -1) {
		saved = errno;
		maildir_tmp_free(t);
		errno = saved;
		return -1;
	}
	/* start the writeback now: the fsync of the batch finds it done */
	(void)sync_file_range(t->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	t->dst = xasprintf("%s,W=%llu", base,
	    (unsigned long long)(hdrlen + len + nlf));
	return 0;
fail:
	saved = errno;
	maildir_tmp_free(t);
	errno = saved;
	return -1;
}

void
maildir_commitv(struct maildir_tmp **t, int *errs, const char **steps,
    size_t n)
{
	int fds[64], ferr[64];
	size_t i, j, k, nd;

	for (i = 0; i < n; i += k) {
		k = n - i < 64 ? n - i : 64;
		for (j = 0; j < k; j++)
			fds[j] = t[i + j]->fd;
		(void)fsyncv(fds, errs + i, k);
	}
	for (i = 0; i < n; i++) {
		steps[i] = "fsync";
		if (errs[i] == 0 && close(t[i]->fd) == -1)
			errs[i] = errno;
		t[i]->fd = -1;
		if (errs[i] != 0) {
			(void)unlinkat(t[i]->tmpdir, t[i]->tmp, 0);
			continue;
		}
		steps[i] = "rename";
		if (renameat(t[i]->tmpdir, t[i]->tmp, t[i]->newdir,
		    t[i]->dst) == -1) {
			errs[i] = errno;
			(void)unlinkat(t[i]->tmpdir, t[i]->tmp, 0);
		}
	}
	/* each distinct new/ once, at once; the others share its result */
	for (i = 0; i < n; i += k) {
		size_t first[64];

		for (k = 0, nd = 0; i + k < n && nd < 64; k++) {
			struct maildir_tmp *a = t[i + k];

			if (errs[i + k] != 0)
				continue;
			steps[i + k] = "fsync of new/";
			for (j = 0; j < nd; j++)
				if (strcmp(t[first[j]]->dir, a->dir) == 0)
					break;
			if (j == nd) {
				first[nd] = i + k;
				fds[nd++] = a->newdir;
			}
		}
		(void)fsyncv(fds, ferr, nd);
		for (j = 0; j < k; j++) {
			size_t d;

			if (errs[i + j] != 0)
				continue;
			for (d = 0; d < nd; d++)
				if (strcmp(t[first[d]]->dir, t[i + j]->dir) == 0)
					break;
			errs[i + j] = ferr[d];
		}
	}
	for (i = 0; i < n; i++)
		maildir_tmp_free(t[i]);
}

void
maildir_host(char *out, size_t outsz, const char *host)
{
	size_t o = 0;

	for (; *host && o + 5 < outsz; host++) {
		if (*host == '/' || *host == ':') {
			snprintf(out + o, outsz - o, "\\%03o", (unsigned char)*host);
			o += 4;
		} else
			out[o++] = *host;
	}
	out[o] = '\0';
}
