/* SPDX-License-Identifier: ISC */
/*
 * ipc.h - framed messages between facteur processes over Unix sockets
 * (STYLE 5, OpenSMTPD imsg-like).
 *
 * Frame: struct ipc_hdr (host byte order, same machine), then `len` bytes
 * of payload, at most IPC_MAX_PAYLOAD.  One file descriptor may travel with
 * a frame (SCM_RIGHTS).  Payloads are built with ipc_put_* and read with
 * ipc_get_*; strings carry a length and must end with the one NUL at their
 * end; ipc_get_end() checks the payload was consumed exactly.  A peer that
 * sends a malformed frame is closed (its close callback runs); the process
 * keeps running.  The owner may call ipc_close() inside on_msg, but must
 * free the struct ipc only from on_close or outside the callbacks.
 */
#ifndef FACTEUR_IPC_H
#define FACTEUR_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ev.h"

#define IPC_MAX_PAYLOAD	16384
/* frames queued to a peer that does not read: past this ipc_send fails */
#define IPC_OUT_MAX	(256 * (sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD))

struct ipc_hdr {
	uint32_t	type;
	uint32_t	len;		/* payload bytes */
	uint32_t	id;		/* request id, echoed in the answer */
	uint32_t	flags;		/* IPC_F_FD: a descriptor came with it */
};
#define IPC_F_FD	0x1
/* descriptors sent with one sendmsg, and taken by one read (ipc.c) */
#define IPC_FDS_MAX	4

/* a received message being read */
struct ipc_msg {
	struct ipc_hdr	 hdr;
	const uint8_t	*p;
	size_t		 pos;
	int		 fd;		/* -1 or a passed descriptor; the callback owns it */
	bool		 bad;		/* a get failed: reject the whole message */
};

/* a message being built */
struct ipc_out {
	uint8_t		 p[IPC_MAX_PAYLOAD];
	size_t		 len;
	bool		 overflow;
};

struct ipc;
typedef void ipc_msg_cb(struct ipc *ch, struct ipc_msg *m, void *arg);
typedef void ipc_close_cb(struct ipc *ch, void *arg);

struct ipc {
	int		 fd;
	struct ev_io	 io;
	struct buf	 in;
	struct buf	 out;
	int		*outfds;	/* fds waiting to go with queued frames */
	size_t		*outfd_at;	/* offset in `out` of the frame carrying each */
	size_t		 noutfds;
	int		 infds[8];	/* received fds not yet matched to a frame */
	size_t		 ninfds;
	ipc_msg_cb	*on_msg;
	ipc_close_cb	*on_close;
	void		*arg;
	bool		 closed;
	bool		 paused;	/* ipc_pause: frames wait in the socket */
	struct ev_timer	 flush;		/* writes what this round queued */
};

/* ipc_secret - the channel carries passwords: its buffers leave no copy
 * of what went through them (lib/buf.h) */
void	ipc_secret(struct ipc *ch);
/* ipc_init - run the channel on `fd` in this process's event loop */
void	ipc_init(struct ipc *ch, int fd, ipc_msg_cb *on_msg, ipc_close_cb *on_close,
	    void *arg);
/* ipc_close - stop, close fd and any queued fds; no callback */
void	ipc_close(struct ipc *ch);
/*
 * ipc_send - queue one frame (fd = -1 for none; the fd is closed once
 * sent).  The frames queued during one round of the event loop go out
 * together at its end (fewer system calls, and the peer reads them as one
 * batch).  Never exits: returns -1 with errno EPIPE (channel closed),
 * EMSGSIZE (o overflowed), ENOBUFS (more than IPC_OUT_MAX bytes would be
 * queued: the peer is not reading) or ENOMEM; nothing is queued then and
 * fd is closed.  What to do with such a peer is the owner's choice.
 */
int	ipc_send(struct ipc *ch, uint32_t type, uint32_t id, int fd,
	    const struct ipc_out *o);
/*
 * ipc_pause - stop (true) or resume (false) reading the peer's frames;
 * meanwhile they wait in the socket and the loop does not wake for them
 * (writing goes on; a peer that hangs up still wakes it).  For an owner
 * that collects what comes over a while anyway: the deliver role sleeps
 * through its batch window and then reads the batch with ipc_drain().
 */
void	ipc_pause(struct ipc *ch, bool pause);
/*
 * ipc_drain - read and dispatch now what the peer has sent so far, paused
 * or not; false when the channel closed meanwhile (on_close has run)
 */
bool	ipc_drain(struct ipc *ch);
/* ipc_pending - bytes queued and not yet written */
size_t	ipc_pending(const struct ipc *ch);

void	ipc_out_init(struct ipc_out *o);
void	ipc_put_u32(struct ipc_out *o, uint32_t v);
void	ipc_put_u64(struct ipc_out *o, uint64_t v);
void	ipc_put_data(struct ipc_out *o, const void *p, size_t n);	/* u32 len + bytes */
void	ipc_put_str(struct ipc_out *o, const char *s);			/* u32 len + bytes + NUL */
void	ipc_put_strn(struct ipc_out *o, const char *s, size_t n);

bool	ipc_get_u32(struct ipc_msg *m, uint32_t *v);
bool	ipc_get_u64(struct ipc_msg *m, uint64_t *v);
/* the pointer stays valid until the callback returns */
bool	ipc_get_data(struct ipc_msg *m, const void **p, size_t *n);
/* a string: length-prefixed, NUL-terminated, no NUL inside */
bool	ipc_get_str(struct ipc_msg *m, const char **s, size_t *n);
/* ipc_get_end - true when every byte was read and no get failed */
bool	ipc_get_end(struct ipc_msg *m);

/*
 * Blocking use, for CLI tools (facteur-sendmail, facteur-ctl): write one
 * frame, read one frame into `store` (at least IPC_MAX_PAYLOAD bytes).
 * Return 0, or -1 with errno set (EPROTO for a malformed frame).
 */
int	ipc_write_sync(int fd, uint32_t type, uint32_t id, int passfd,
	    const struct ipc_out *o);
int	ipc_read_sync(int fd, struct ipc_msg *m, uint8_t *store, int timeout_ms);

/* ipc_connect_unix - blocking connect to a Unix socket path; -1 on error */
int	ipc_connect_unix(const char *path);
/*
 * ipc_listen_unix - bind+listen a Unix socket (unlinking a stale one), mode;
 * -1 with EADDRINUSE when a process still accepts connections on path
 */
int	ipc_listen_unix(const char *path, unsigned mode);

#endif
