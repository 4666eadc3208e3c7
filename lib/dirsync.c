/* SPDX-License-Identifier: ISC */
/*
 * dirsync.c - directories whose new entries survive a power cut (see
 * dirsync.h).  Tested by tests/integration/test_power_cut.py, whose
 * filesystem forgets every entry its directory's fsync did not cover.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirsync.h"

int
fsync_parent(const char *path)
{
	char dir[4096];
	size_t n = strlen(path);
	int fd, rc, saved;

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (n == 0)
		memcpy(dir, ".", 2);
	else {
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
fsync_parent_existing(const char *path)
{
	/*
	 * A parent we may not read (a 0711 home, say) is not one we could
	 * have made this entry durable in at its mkdir either: whoever made
	 * it there did.  Only a failed fsync is an error.
	 */
	if (fsync_parent(path) == -1 && errno != EACCES)
		return -1;
	return 0;
}

int
mkdir_durable(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0)
		return fsync_parent(path);
	if (errno != EEXIST)
		return -1;
	/* maybe made by an earlier run that died before the fsync below */
	return fsync_parent_existing(path);
}
