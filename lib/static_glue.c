/* SPDX-License-Identifier: ISC */
/*
 * static_glue.c - linked into every program of a fully static build
 * (STATIC=1, init/module.mk) and into nothing else: not part of
 * libfacteur.a.
 *
 * A static binary must run on a box whose C library is not the one it was
 * linked with (OpenWrt's musl, a NAS with glibc < 2.34), so it may neither
 * load NSS modules nor dlopen anything:
 *
 *  - getpwnam(), getpwuid() and setpwent()/getpwent()/endpwent() are
 *    linked as __wrap_* (ld --wrap): they read /etc/passwd with
 *    fgetpwent(), which parses the file itself, instead of going through
 *    NSS.  Accounts from LDAP and the like are not seen; the facteur user
 *    is a local system account anyway.  A static glibc that reaches NSS
 *    loads the host's libnss_*.so (nsswitch.conf's "passwd: files
 *    systemd" on Debian, winbind or ldap on a NAS) into a program that
 *    has no dynamic libc, and crashes: the smtp role's getpwent() did
 *    just that on a Debian host (smtp_local.c, issue 15).
 *  - dlopen() is linked as __wrap_dlopen, which always fails, so neither
 *    libsasl2 (plugin directory) nor OpenSSL (engines, providers) can load a
 *    shared object built for another C library.  dlerror() says why.
 *  - Debian's libsasl2.a registers every mechanism it was built with; its
 *    GSSAPI, SQL and LDAP ones pull in libraries we do not link, and authd
 *    offers PLAIN and LOGIN only (authd/authd_login.c).  The plug-in entry
 *    points of the others are defined here, answering SASL_NOMECH, so their
 *    objects are never taken from the archive.
 *
 * Error contract: the same as the functions they replace.
 */
#include <sys/types.h>

#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#define STATIC_PASSWD	"/etc/passwd"

struct passwd	*__wrap_getpwnam(const char *name);
struct passwd	*__wrap_getpwuid(uid_t uid);
void		 __wrap_setpwent(void);
struct passwd	*__wrap_getpwent(void);
void		 __wrap_endpwent(void);
void		*__wrap_dlopen(const char *file, int mode);
char		*__wrap_dlerror(void);

/*
 * pw_keep - src (fgetpwent's one static entry) copied into dst and buf:
 * getpwnam(), getpwuid() and getpwent() each keep their own result, as
 * glibc's do, so an entry held by a caller survives the others (the
 * smtp role lists every account with getpwent() after looking up its
 * own); NULL if src is NULL or does not fit
 */
static struct passwd	nam_pw, uid_pw;
static char		nam_buf[1024], uid_buf[1024];

static struct passwd *
pw_keep(const struct passwd *src, struct passwd *dst, char *buf, size_t sz)
{
	const char *f[5];
	char **d[5];
	size_t i, n, off = 0;

	if (src == NULL)
		return NULL;
	*dst = *src;
	f[0] = src->pw_name; f[1] = src->pw_passwd; f[2] = src->pw_gecos;
	f[3] = src->pw_dir; f[4] = src->pw_shell;
	d[0] = &dst->pw_name; d[1] = &dst->pw_passwd; d[2] = &dst->pw_gecos;
	d[3] = &dst->pw_dir; d[4] = &dst->pw_shell;
	for (i = 0; i < 5; i++) {
		n = f[i] != NULL ? strlen(f[i]) + 1 : 0;
		if (n == 0) {
			*d[i] = NULL;
			continue;
		}
		if (n > sz - off)
			return NULL;
		memcpy(buf + off, f[i], n);
		*d[i] = buf + off;
		off += n;
	}
	return dst;
}

/* __wrap_getpwnam - getpwnam() from /etc/passwd; result as getpwnam's */
struct passwd *
__wrap_getpwnam(const char *name)
{
	struct passwd *pw;
	FILE *f;

	if (name == NULL || (f = fopen(STATIC_PASSWD, "re")) == NULL)
		return NULL;
	while ((pw = fgetpwent(f)) != NULL)
		if (strcmp(pw->pw_name, name) == 0)
			break;
	fclose(f);
	return pw_keep(pw, &nam_pw, nam_buf, sizeof(nam_buf));
}

/* __wrap_getpwuid - getpwuid() from /etc/passwd; result as getpwuid's */
struct passwd *
__wrap_getpwuid(uid_t uid)
{
	struct passwd *pw;
	FILE *f;

	if ((f = fopen(STATIC_PASSWD, "re")) == NULL)
		return NULL;
	while ((pw = fgetpwent(f)) != NULL)
		if (pw->pw_uid == uid)
			break;
	fclose(f);
	return pw_keep(pw, &uid_pw, uid_buf, sizeof(uid_buf));
}

/* the stream of setpwent()/getpwent()/endpwent() */
static FILE *pwent_file;

void
__wrap_setpwent(void)
{
	if (pwent_file != NULL)
		rewind(pwent_file);
	else
		pwent_file = fopen(STATIC_PASSWD, "re");
}

/* __wrap_getpwent - the next /etc/passwd entry, NULL at the end */
struct passwd *
__wrap_getpwent(void)
{
	if (pwent_file == NULL)
		__wrap_setpwent();
	return pwent_file != NULL ? fgetpwent(pwent_file) : NULL;
}

void
__wrap_endpwent(void)
{
	if (pwent_file != NULL)
		fclose(pwent_file);
	pwent_file = NULL;
}

void *
__wrap_dlopen(const char *file, int mode)
{
	return NULL;
}

char *
__wrap_dlerror(void)
{
	static char msg[] = "dlopen is disabled in facteur's static build";

	return msg;
}

/* SERVER_STUB(mech), CLIENT_STUB(mech), AUXPROP_STUB(name): one entry
 * point each, with the prototype -Wmissing-prototypes wants */
#define SERVER_STUB(m)							\
int m##_server_plug_init(const sasl_utils_t *, int, int *,		\
    sasl_server_plug_t **, int *);					\
int m##_server_plug_init(const sasl_utils_t *u, int max, int *out,	\
    sasl_server_plug_t **list, int *n)					\
{									\
	return SASL_NOMECH;						\
}
#define CLIENT_STUB(m)							\
int m##_client_plug_init(const sasl_utils_t *, int, int *,		\
    sasl_client_plug_t **, int *);					\
int m##_client_plug_init(const sasl_utils_t *u, int max, int *out,	\
    sasl_client_plug_t **list, int *n)					\
{									\
	return SASL_NOMECH;						\
}
#define AUXPROP_STUB(m)							\
int m##_auxprop_plug_init(const sasl_utils_t *, int, int *,		\
    sasl_auxprop_plug_t **, const char *);				\
int m##_auxprop_plug_init(const sasl_utils_t *u, int max, int *out,	\
    sasl_auxprop_plug_t **plug, const char *name)			\
{									\
	return SASL_NOMECH;						\
}

SERVER_STUB(anonymous)	CLIENT_STUB(anonymous)
SERVER_STUB(crammd5)	CLIENT_STUB(crammd5)
SERVER_STUB(digestmd5)	CLIENT_STUB(digestmd5)
SERVER_STUB(gssapiv2)	CLIENT_STUB(gssapiv2)
SERVER_STUB(ntlm)	CLIENT_STUB(ntlm)
SERVER_STUB(otp)	CLIENT_STUB(otp)
SERVER_STUB(scram)	CLIENT_STUB(scram)
AUXPROP_STUB(sasldb)
AUXPROP_STUB(sql)
AUXPROP_STUB(ldapdb)
