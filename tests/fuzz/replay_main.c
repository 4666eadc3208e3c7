/* SPDX-License-Identifier: ISC */
/*
 * replay_main.c - a main() for fuzz targets built without libFuzzer (gcc,
 * cross builds under qemu-user): feeds every file named on the command line,
 * or every regular file inside a directory named there (one level), to
 * LLVMFuzzerTestOneInput once.  With no argument it feeds stdin.
 *
 * Runs as the invoking user in the test tree; never writes anything.
 * Exit 0 when every input ran (a crash or sanitizer abort ends the process
 * with its own status), 1 when an input could not be read, 2 on usage.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_MAX	(16u * 1024 * 1024)	/* larger inputs are refused */

static int	replay_file(const char *path);
static int	replay_dir(const char *path);
static int	replay_stream(FILE *fp, const char *name);

/* replay_stream - read all of fp (at most REPLAY_MAX) and run it once */
static int
replay_stream(FILE *fp, const char *name)
{
	unsigned char	*data = NULL, *p;
	size_t		 len = 0, cap = 0, n;

	for (;;) {
		if (len == cap) {
			if (cap >= REPLAY_MAX) {
				fprintf(stderr, "replay: %s: larger than %u bytes\n",
				    name, REPLAY_MAX);
				free(data);
				return -1;
			}
			cap = cap ? cap * 2 : 4096;
			if ((p = realloc(data, cap)) == NULL) {
				fprintf(stderr, "replay: out of memory\n");
				free(data);
				return -1;
			}
			data = p;
		}
		n = fread(data + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(stderr, "replay: %s: read error\n", name);
		free(data);
		return -1;
	}
	/* libFuzzer hands over an exactly-sized buffer: so do we */
	if ((p = malloc(len ? len : 1)) == NULL) {
		free(data);
		return -1;
	}
	if (len)
		memcpy(p, data, len);
	free(data);
	(void)LLVMFuzzerTestOneInput(p, len);
	free(p);
	return 0;
}

static int
replay_file(const char *path)
{
	FILE	*fp;
	int	 r;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	r = replay_stream(fp, path);
	fclose(fp);
	return r;
}

static int
replay_dir(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		 file[4096];
	int		 n, r = 0;

	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n = snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(file)) {
			r = -1;
			continue;
		}
		if (stat(file, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(file) == -1)
			r = -1;
	}
	closedir(d);
	return r;
}

int
main(int argc, char *argv[])
{
	struct stat	st;
	int		i, r = 0;

	if (argc < 2)
		return replay_stream(stdin, "stdin") == 0 ? 0 : 1;
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			/* libFuzzer flags such as -runs=N: accepted, ignored */
			continue;
		}
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i]) == -1)
				r = 1;
		} else if (replay_file(argv[i]) == -1)
			r = 1;
	}
	return r;
}
