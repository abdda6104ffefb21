/*
 * proc.h - private: child processes and non-blocking byte queues, the
 * plumbing of a program that runs a pipeline of cl programs and feeds it
 * (cl-complete).  Not part of the public API in cl.h.
 *
 * Like the rest of the library this never prints and never exits: what a
 * child writes on its standard error is kept in memory (struct cl_proc.err)
 * and the caller decides what to show, so that of several children failing
 * for one cause (a bad model directory) only one message reaches the user.
 */
#ifndef CL_PROC_H
#define CL_PROC_H

#include <poll.h>
#include <sys/types.h>

#include "cl.h"

/* A growable byte queue drained into a non-blocking fd. */
struct cl_bytes {
	unsigned char *p; /* (cap) bytes; pending data lives in [off, len) */
	size_t off, len, cap;
};

enum cl_status cl_bytes_add(struct cl_bytes *b, const void *p, size_t n);
/* Pending bytes. */
size_t cl_bytes_count(const struct cl_bytes *b);
/* Write as much as fd takes now.  CL_ERR_PIPE when the reader went away,
 * CL_ERR_IO on another error; CL_OK otherwise (EAGAIN included). */
enum cl_status cl_bytes_write(struct cl_bytes *b, int fd);
void cl_bytes_free(struct cl_bytes *b);

#define CL_PROC_MAX 8

/* One child.  Its standard error goes into a pipe whose end of input also
 * says that the child has exited (no SIGCHLD handler is needed). */
struct cl_proc {
	pid_t pid;          /* 0: not running */
	char name[32];      /* the program's name, for messages */
	int err_fd;         /* our end of its stderr pipe; -1 once closed */
	struct cl_bytes err;/* what it wrote on stderr */
	int exited;         /* reaped: status is valid */
	int status;         /* wait(2) status */
	int killed;         /* we sent it SIGTERM */
};

/* The path of `name` beside the running program (its /proc/self/exe
 * directory), or `name` itself when none is there (then found on PATH). */
void cl_proc_path(const char *name, char *out, size_t cap);

/* Start argv (argv[0] as cl_proc_path resolves it) with stdin from in_fd and
 * stdout to out_fd (-1: ours).  Every other fd of ours must be close-on-exec
 * (make pipes with pipe2(O_CLOEXEC)).  CL_ERR_IO with a message naming the
 * program when it cannot be run. */
enum cl_status cl_proc_spawn(struct cl_proc *p, char *const argv[], int in_fd, int out_fd);

/* Add the stderr pipes of live children to pfd (room for CL_PROC_MAX);
 * returns the count added. */
int cl_proc_pollfds(struct cl_proc *ps, int n, struct pollfd *pfd);
/* After poll(2): take what children wrote on stderr, and reap those whose
 * stderr ended.  Returns the number of children newly reaped. */
int cl_proc_service(struct cl_proc *ps, int n, const struct pollfd *pfd, int npfd);
/* SIGTERM to every child still running. */
void cl_proc_kill(struct cl_proc *ps, int n);
/* Children not yet reaped. */
int cl_proc_running(const struct cl_proc *ps, int n);
/* Whether the child failed: a non-zero exit or a signal we did not send. */
int cl_proc_failed(const struct cl_proc *p);
/* "exit status 3", "killed by signal 11". */
const char *cl_proc_describe(const struct cl_proc *p, char *buf, size_t cap);
/* Reap everything (waiting) and free what the children's records hold. */
void cl_proc_cleanup(struct cl_proc *ps, int n);

/* ----------------------------------------------------------- the loop --- */
/*
 * The generation loop of processes: cl-embed | cl-forward | cl-sample, whose
 * output goes back into cl-embed, after cl-tokenize's stream and with a copy
 * to cl-detok when those two run too (as `cat - fifo` and `tee fifo` in the
 * shell recipe).  Everything moves under poll(2) with non-blocking writes, so
 * we never block writing to cl-embed while cl-sample is blocked writing to us.
 */
enum cl_loop_child { CL_LOOP_EMBED, CL_LOOP_FORWARD, CL_LOOP_SAMPLE, CL_LOOP_TOKENIZE, CL_LOOP_DETOK };

struct cl_loop {
	struct cl_proc ps[5];   /* in the order of enum cl_loop_child */
	int np;
	int tok, smp, emb, det; /* our ends of the pipes; -1 when closed */
	struct cl_bytes q_emb;  /* bytes waiting for cl-embed */
	struct cl_bytes q_det;  /* bytes waiting for cl-detok */
	struct cl_bytes held;   /* cl-sample's bytes, until cl-tokenize's stream ends */
	/* When set, called as cl-sample's output becomes readable, in place of
	 * the byte relay: it reads L->smp, adds what goes back to L->q_emb, and
	 * closes L->smp (cl_fd_close) at the end. */
	enum cl_status (*take)(struct cl_loop *L, void *arg);
	void *arg;
};

void cl_fd_close(int *fd);
/* Start the children (tok and det may be NULL: then the caller writes the
 * prompt's stream into L->q_emb itself). */
enum cl_status cl_loop_start(struct cl_loop *L, char **emb, char **fwd, char **smp, char **tok, char **det);
/* Wait, then move what is ready; *exited gets bit (1 << child) for each
 * child reaped now.  CL_ERR_EOF when every child is reaped and cl-sample's
 * output read to its end. */
enum cl_status cl_loop_step(struct cl_loop *L, unsigned *exited);
/* SIGTERM to the children still running, and our ends closed: the steps
 * that follow only reap. */
void cl_loop_stop(struct cl_loop *L);
/* Reap what is left, free. */
void cl_loop_free(struct cl_loop *L);

#endif
