/* SPDX-License-Identifier: ISC */
/*
 * tls.c - OpenSSL contexts (see tls.h).  TLS 1.2 is the floor; session
 * tickets stay on for fast client reconnects; no compression, no
 * renegotiation.  The private key is read into a buffer wiped after
 * parsing (no stdio buffer keeps the PEM text), and while OpenSSL parses
 * it every block OpenSSL frees is zeroed first (its PEM and DER decoders
 * free their copies of the key without clearing them) and the stack it
 * used is zeroed after: a process forked later that frees the context
 * (a role without TLS) holds no copy of the key.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls.h"

const char *
tls_error(void)
{
	static char msg[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "no OpenSSL error";
	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return msg;
}

#define TLS_SERVER_CIPHERS_12						\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"	\
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

static SSL_CTX *
tls_ctx_new(const SSL_METHOD *m)
{
	SSL_CTX *ctx = SSL_CTX_new(m);

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

#define KEY_FILE_MAX	(1024 * 1024)
#define CA_FILE_MAX	(16 * 1024 * 1024)

static bool wipe_frees;		/* parsing a private key: zero what is freed */

static void *
tls_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void
tls_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (wipe_frees && p != NULL)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

static void *
tls_realloc(void *p, size_t n, const char *file, int line)
{
	void *q;
	size_t old;

	if (!wipe_frees || p == NULL)
		return realloc(p, n);
	if ((q = malloc(n)) == NULL)
		return NULL;
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	tls_free(p, file, line);
	return q;
}

/* before OpenSSL allocates anything: it refuses later */
static void __attribute__((constructor))
tls_mem_init(void)
{
	(void)CRYPTO_set_mem_functions(tls_malloc, tls_realloc, tls_free);
}
#define STACK_SCRUB	(128 * 1024)

/*
 * scrub_stack - zero the stack below the caller: OpenSSL's EC and RSA
 * code leaves scalars in its stack frames, which a process forked later
 * (a role without TLS) would inherit.  The whole pages of the zeroed
 * area are then given back (MADV_DONTNEED: the next touch maps a new
 * zero page), or every process that loads a key keeps 128 KiB of stack.
 */
static void __attribute__((noinline))
scrub_stack(void)
{
	char pad[STACK_SCRUB];
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)pad + pg - 1) & ~(pg - 1);
	uintptr_t hi = ((uintptr_t)pad + sizeof(pad)) & ~(pg - 1);

	explicit_bzero(pad, sizeof(pad));
	__asm__ __volatile__("" : : "r"(pad) : "memory");
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/*
 * read_fd - the whole file behind fd (from offset 0, with pread: the
 * offset may be shared with the process that passed it) into a new
 * buffer of *len_r bytes; NULL with errno set (EFBIG: empty or too big)
 */
static char *
read_fd_max(int fd, size_t *len_r, off_t max)
{
	struct stat st;
	size_t len = 0;
	ssize_t r;
	char *buf;

	if (fstat(fd, &st) == -1)
		return NULL;
	if (st.st_size <= 0 || st.st_size > max) {
		errno = EFBIG;
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size)) == NULL)
		return NULL;
	while (len < (size_t)st.st_size && (r = pread(fd, buf + len,
	    (size_t)st.st_size - len, (off_t)len)) > 0)
		len += (size_t)r;
	*len_r = len;
	return buf;
}

static char *
read_fd(int fd, size_t *len_r)
{
	return read_fd_max(fd, len_r, KEY_FILE_MAX);
}

/* use_key - load the PEM private key behind fd into ctx; wipes what it read */
static int
use_key(SSL_CTX *ctx, int fd, const char *path)
{
	EVP_PKEY *pkey = NULL;
	char *buf;
	size_t len = 0;
	BIO *bio;
	int rc = 0;

	if ((buf = read_fd(fd, &len)) == NULL) {
		log_warnx("tls: cannot read key %s: %s", path, errno == EFBIG ?
		    "empty or too big" : strerror(errno));
		return 0;
	}
	wipe_frees = true;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL) {
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (pkey != NULL && SSL_CTX_use_PrivateKey(ctx, pkey) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1)
		rc = 1;
	EVP_PKEY_free(pkey);	/* the context holds its own reference */
	wipe_frees = false;
	if (rc != 1)
		log_warnx("tls: cannot load key %s, or it does not match the "
		    "certificate: %s", path, tls_error());
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/*
 * use_chain - the PEM certificate behind fd, then the chain certificates
 * that follow it (SSL_CTX_use_certificate_chain_file from a descriptor)
 */
static int
use_chain(SSL_CTX *ctx, int fd, const char *path)
{
	X509 *x = NULL;
	char *buf;
	size_t len = 0;
	BIO *bio = NULL;
	int rc = 0;

	if ((buf = read_fd(fd, &len)) == NULL) {
		log_warnx("tls: cannot read certificate %s: %s", path,
		    errno == EFBIG ? "empty or too big" : strerror(errno));
		return 0;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1)
		goto done;
	X509_free(x);
	SSL_CTX_clear_chain_certs(ctx);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
			goto done;
	/* the end of the file is the expected way out of the loop */
	if (ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		rc = 1;
	}
done:
	if (rc != 1) {
		X509_free(x);
		log_warnx("tls: cannot load certificate %s: %s", path,
		    tls_error());
	}
	BIO_free(bio);
	free(buf);
	return rc;
}

SSL_CTX *
tls_server_ctx_fd(int cert_fd, int key_fd, const char *cert,
    const char *key)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_server_method());
	int rc;

	if (ctx == NULL) {
		log_warnx("tls: %s", tls_error());
		return NULL;
	}
	if (use_chain(ctx, cert_fd, cert) != 1)
		goto fail;
	rc = use_key(ctx, key_fd, key);
	scrub_stack();
	if (rc != 1)
		goto fail;
	/*
	 * TLS 1.2: forward-secret AEAD suites only, no CBC (issue 16 item 8;
	 * Mozilla's "intermediate" list); TLS 1.3 keeps OpenSSL's defaults,
	 * all AEAD.  Server side only: the relay role talks to whatever the
	 * MX on the other side speaks.
	 */
	if (SSL_CTX_set_cipher_list(ctx, TLS_SERVER_CIPHERS_12) != 1) {
		log_warnx("tls: cipher list: %s", tls_error());
		goto fail;
	}
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"facteur", 7);
	/* received plaintext (logins) is not kept in OpenSSL's buffers */
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_open_pair(const char *cert, const char *key, int *cert_fd_r,
    int *key_fd_r)
{
	if ((*cert_fd_r = open(cert, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warnx("tls: cannot load certificate %s: %s", cert,
		    strerror(errno));
		return -1;
	}
	if ((*key_fd_r = open(key, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warnx("tls: cannot read key %s: %s", key, strerror(errno));
		close(*cert_fd_r);
		*cert_fd_r = -1;
		return -1;
	}
	return 0;
}

SSL_CTX *
tls_server_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx;
	int cfd, kfd;

	if (tls_open_pair(cert, key, &cfd, &kfd) == -1)
		return NULL;
	ctx = tls_server_ctx_fd(cfd, kfd, cert, key);
	close(cfd);
	close(kfd);
	return ctx;
}

bool
tls_try(bool (*fn)(void *), void *arg)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == -1) {
		log_warn("tls: fork");
		return false;
	}
	if (pid == 0)
		_exit(fn(arg) ? 0 : 1);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			log_warn("tls: waitpid");
			return false;
		}
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool
check_pair(void *arg)
{
	const char **pair = arg;
	SSL_CTX *ctx = tls_server_ctx(pair[0], pair[1]);

	SSL_CTX_free(ctx);
	return ctx != NULL;
}

int
tls_open_checked(const char *cert, const char *key, int *cert_fd_r,
    int *key_fd_r)
{
	const char *pair[2] = { cert, key };

	if (tls_open_pair(cert, key, cert_fd_r, key_fd_r) == -1)
		return -1;
	if (!tls_try(check_pair, pair)) {
		close(*cert_fd_r);
		close(*key_fd_r);
		*cert_fd_r = *key_fd_r = -1;
		return -1;
	}
	return 0;
}

const char *
tls_ca_name(const char *ca_file)
{
	const char *env;

	if (ca_file != NULL)
		return ca_file;
	if ((env = getenv(X509_get_default_cert_file_env())) != NULL && *env)
		return env;
	return X509_get_default_cert_file();
}

int
tls_ca_open(const char *ca_file)
{
	return open(tls_ca_name(ca_file), O_RDONLY | O_CLOEXEC);
}

/* add_cas - every certificate and CRL of the PEM text to ctx's store */
static bool
add_cas(SSL_CTX *ctx, const char *pem, size_t len)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_INFO) *infos = NULL;
	X509_INFO *xi;
	BIO *bio;
	int i, n = 0;
	bool ok = true;

	if ((bio = BIO_new_mem_buf(pem, (int)len)) != NULL)
		infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (infos == NULL)
		return false;
	for (i = 0; i < sk_X509_INFO_num(infos); i++) {
		xi = sk_X509_INFO_value(infos, i);
		if (xi->x509 != NULL) {
			ok = ok && X509_STORE_add_cert(store, xi->x509) == 1;
			n++;
		}
		if (xi->crl != NULL) {
			ok = ok && X509_STORE_add_crl(store, xi->crl) == 1;
			n++;
		}
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return ok && n > 0;
}

SSL_CTX *
tls_client_ctx_fd(bool verify, int ca_fd, const char *ca_name)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_client_method());
	char *pem = NULL;
	size_t len = 0;
	bool ok;

	if (ctx == NULL) {
		log_warnx("tls: %s", tls_error());
		return NULL;
	}
	ok = ca_fd != -1 && (pem = read_fd_max(ca_fd, &len, CA_FILE_MAX)) != NULL &&
	    add_cas(ctx, pem, len);
	free(pem);
	if (!ok) {
		if (verify) {
			log_warnx("tls: cannot load CA file %s: %s", ca_name,
			    ca_fd == -1 ? "not opened" : tls_error());
			SSL_CTX_free(ctx);
			return NULL;
		}
		ERR_clear_error();
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

SSL_CTX *
tls_client_ctx(bool verify, const char *ca_file)
{
	SSL_CTX *ctx = tls_ctx_new(TLS_client_method());

	if (ctx == NULL) {
		log_warnx("tls: %s", tls_error());
		return NULL;
	}
	if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		if (verify) {
			/* the usual cause on a fresh system */
			bool absent = ca_file != NULL && access(ca_file, F_OK) != 0;

			log_warnx("tls: cannot load CA file %s: %s",
			    ca_file ? ca_file : "(default)", absent ?
			    "no such file (on Debian: apt-get install "
			    "ca-certificates, or set [relay] ca_file)" :
			    tls_error());
			SSL_CTX_free(ctx);
			return NULL;
		}
		ERR_clear_error();
	}
	/* verification result is read after the handshake (SSL_get_verify_result)
	 * so an unverified peer can still be reported as tls=untrusted */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

void
tls_describe(SSL *ssl, char *out, size_t outsz)
{
	if (ssl == NULL) {
		snprintf(out, outsz, "none");
		return;
	}
	snprintf(out, outsz, "%s %s", SSL_get_version(ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}
