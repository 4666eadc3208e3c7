/* SPDX-License-Identifier: ISC */
/*
 * store_cache.c - the header cache of a folder: the header block of each
 * message read once, kept in FOLDER/facteur-cache, so ENVELOPE,
 * HEADER.FIELDS and header SEARCH keys do not open every message file.
 *
 * Runs in a worker as `user`, inside the folder's directory.  It is a
 * cache: lost, torn or of another UIDVALIDITY, it starts again empty.
 * Format (native byte order, the file never leaves the machine):
 *
 *   "facteur-cache 1 UIDVALIDITY\n" padded with spaces to 32 bytes,
 *   then records: u32 UID, u32 LEN, LEN bytes (the header block as in the
 *   message file, blank line included), appended as messages are read.
 *
 * The file is mapped read-only and mapped again when it has grown; a
 * record past the end of a crash is cut off before the next append.
 * Records of expunged messages stay until the folder is closed with more
 * dead bytes than live ones; then the file is rewritten (tmp + rename).
 * Headers over CACHE_MAX_HDR bytes are not kept.  Errors are not fatal:
 * the cache is switched off for the folder and files are read instead.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "log.h"
#include "xmem.h"

#define CACHE_FILE	"facteur-cache"
#define CACHE_HDR	32
#define CACHE_MAX_HDR	(64 * 1024)

struct rec_hdr {
	uint32_t	 uid;
	uint32_t	 len;
};

static bool
cache_path(const struct store_folder *f, char *p, size_t n)
{
	return bsnprintf(p, n, "%s/%s", f->dir, CACHE_FILE);
}

static void
cache_unmap(struct store_folder *f)
{
	if (f->cache_map)
		(void)munmap((void *)(uintptr_t)f->cache_map, f->cache_maplen);
	f->cache_map = NULL;
	f->cache_maplen = 0;
}

/* cache_remap - map the whole file as it is now */
static bool
cache_remap(struct store_folder *f)
{
	void *m;

	cache_unmap(f);
	if (f->cache_size == 0)
		return false;
	m = mmap(NULL, f->cache_size, PROT_READ, MAP_SHARED, f->cache_fd, 0);
	if (m == MAP_FAILED)
		return false;
	f->cache_map = m;
	f->cache_maplen = f->cache_size;
	return true;
}

static void
cache_off(struct store_folder *f, const char *why)
{
	log_warn("%s/%s: %s, header cache off", f->dir, CACHE_FILE, why);
	cache_unmap(f);
	if (f->cache_fd != -1)
		close(f->cache_fd);
	f->cache_fd = -1;
	f->cache_state = CACHE_OFF;
}

/* cache_head - the file's first CACHE_HDR bytes; returns the length
 * of the part that must match */
static size_t
cache_head(const struct store_folder *f, char h[CACHE_HDR + 1])
{
	size_t i, n;

	(void)bsnprintf(h, CACHE_HDR + 1, "facteur-cache 1 %u\n",
	    f->uidvalidity);
	for (i = n = strlen(h); i < CACHE_HDR; i++)
		h[i] = ' ';
	h[CACHE_HDR] = '\0';
	return n;
}

/* cache_start - an empty file for this UIDVALIDITY */
static bool
cache_start(struct store_folder *f)
{
	char h[CACHE_HDR + 1];

	if (ftruncate(f->cache_fd, 0) == -1)
		return false;
	(void)cache_head(f, h);
	if (pwrite(f->cache_fd, h, CACHE_HDR, 0) != CACHE_HDR)
		return false;
	f->cache_size = CACHE_HDR;
	return true;
}

/*
 * cache_load - open and map the file, point every known message at its
 * record; a torn tail is cut off, a file of another UIDVALIDITY emptied.
 */
static void
cache_load(struct store_folder *f)
{
	char p[PATH_MAX], want[CACHE_HDR + 1];
	struct rec_hdr r;
	struct stat st;
	uint64_t off;
	ssize_t i;
	size_t wl;

	f->cache_state = CACHE_OFF;
	if (!cache_path(f, p, sizeof(p)) ||
	    (f->cache_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return;
	f->cache_state = CACHE_ON;
	if (fstat(f->cache_fd, &st) == -1) {
		cache_off(f, "fstat");
		return;
	}
	f->cache_size = (uint64_t)st.st_size;
	wl = cache_head(f, want);
	if (f->cache_size < CACHE_HDR || !cache_remap(f) ||
	    memcmp(f->cache_map, want, wl) != 0) {
		if (!cache_start(f))
			cache_off(f, "write");
		return;
	}
	for (off = CACHE_HDR; off + sizeof(r) <= f->cache_size;
	    off += sizeof(r) + r.len) {
		memcpy(&r, f->cache_map + off, sizeof(r));
		if (r.len > CACHE_MAX_HDR || off + sizeof(r) + r.len >
		    f->cache_size)
			break;
		if ((i = store_find(f, r.uid)) >= 0)
			f->v[i].hoff = (uint32_t)off;
	}
	if (off != f->cache_size) {
		/* torn by a crash: later appends must start on a record */
		if (ftruncate(f->cache_fd, (off_t)off) == -1) {
			cache_off(f, "ftruncate");
			return;
		}
		f->cache_size = off;
		(void)cache_remap(f);
	}
}

const char *
store_cache_get(struct store_folder *f, size_t i, size_t *len_r)
{
	struct rec_hdr r;
	uint32_t off;

	if (f->cache_state == CACHE_NONE)
		cache_load(f);
	if (f->cache_state != CACHE_ON || (off = f->v[i].hoff) == 0)
		return NULL;
	if ((uint64_t)off + sizeof(r) > f->cache_maplen && !cache_remap(f))
		return NULL;
	memcpy(&r, f->cache_map + off, sizeof(r));
	if (r.uid != f->v[i].uid || (uint64_t)off + sizeof(r) + r.len >
	    f->cache_maplen) {
		if (!cache_remap(f) || (uint64_t)off + sizeof(r) + r.len >
		    f->cache_maplen || r.uid != f->v[i].uid)
			return NULL;
	}
	*len_r = r.len;
	return f->cache_map + off + sizeof(r);
}

void
store_cache_put(struct store_folder *f, size_t i, const char *hdr, size_t len)
{
	struct rec_hdr r;
	char *rec;

	if (f->cache_state == CACHE_NONE)
		cache_load(f);
	if (f->cache_state != CACHE_ON || len > CACHE_MAX_HDR ||
	    f->v[i].hoff != 0 || f->cache_size + sizeof(r) + len > UINT32_MAX)
		return;
	r.uid = f->v[i].uid;
	r.len = (uint32_t)len;
	rec = xmalloc(sizeof(r) + len);
	memcpy(rec, &r, sizeof(r));
	memcpy(rec + sizeof(r), hdr, len);
	/* one write at a known offset: a crash leaves at most a torn tail */
	if (pwrite(f->cache_fd, rec, sizeof(r) + len, (off_t)f->cache_size) !=
	    (ssize_t)(sizeof(r) + len))
		cache_off(f, "write");
	else {
		f->v[i].hoff = (uint32_t)f->cache_size;
		f->cache_size += sizeof(r) + len;
	}
	free(rec);
}

/* cache_compact - rewrite with the live records only */
static void
cache_compact(struct store_folder *f)
{
	char p[PATH_MAX], t[PATH_MAX], head[CACHE_HDR + 1];
	const char *h;
	size_t i, len;
	FILE *fp;
	struct rec_hdr r;

	if (!cache_path(f, p, sizeof(p)) ||
	    !bsnprintf(t, sizeof(t), "%s/tmp/%s.%d", f->dir, CACHE_FILE,
	    (int)getpid()) || (fp = fopen(t, "we")) == NULL)
		return;
	(void)cache_head(f, head);
	fwrite(head, 1, CACHE_HDR, fp);
	for (i = 0; i < f->n; i++) {
		if ((h = store_cache_get(f, i, &len)) == NULL)
			continue;
		r.uid = f->v[i].uid;
		r.len = (uint32_t)len;
		fwrite(&r, sizeof(r), 1, fp);
		fwrite(h, 1, len, fp);
	}
	if (fclose(fp) == EOF || rename(t, p) == -1)
		unlink(t);
}

void
store_cache_close(struct store_folder *f, bool compact)
{
	uint64_t live = CACHE_HDR;
	size_t i, len;

	if (compact && f->cache_state == CACHE_ON) {
		for (i = 0; i < f->n; i++)
			if (store_cache_get(f, i, &len) != NULL)
				live += sizeof(struct rec_hdr) + len;
		if (f->cache_size > 2 * live + (1 << 20))
			cache_compact(f);
	}
	cache_unmap(f);
	if (f->cache_fd != -1)
		close(f->cache_fd);
	f->cache_fd = -1;
	f->cache_state = CACHE_NONE;
	for (i = 0; i < f->n; i++)
		f->v[i].hoff = 0;
}
