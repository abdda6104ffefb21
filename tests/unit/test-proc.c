/*
 * test-proc.c - child processes and byte queues: what a child writes on
 * stderr is kept, its end is seen through that pipe and it is reaped, a
 * program that cannot run is an error naming it, and a queue drains into a
 * non-blocking pipe as far as the pipe takes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "t.h"
#include "proc.h"

/* Poll until every child is reaped (or a few seconds have gone). */
static void wait_all(struct cl_proc *ps, int n)
{
	for (int rounds = 0; cl_proc_running(ps, n) && rounds < 500; rounds++) {
		struct pollfd pfd[CL_PROC_MAX];
		int k = cl_proc_pollfds(ps, n, pfd);
		if (poll(pfd, (nfds_t)k, 10) > 0)
			cl_proc_service(ps, n, pfd, k);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct cl_proc ps[2];
	char how[64];

	t_begin("a child's stderr is kept, and its exit status read when its stderr ends");
	char *fail[] = {"sh", "-c", "echo 'sh: something broke' >&2; exit 3", NULL};
	char *good[] = {"sh", "-c", "cat >/dev/null; echo done", NULL};
	int in[2], out[2];
	T_CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0, "pipe");
	T_CHECK(cl_proc_spawn(&ps[0], fail, -1, -1) == CL_OK, "%s", cl_errmsg());
	T_CHECK(cl_proc_spawn(&ps[1], good, in[0], out[1]) == CL_OK, "%s", cl_errmsg());
	close(in[0]);
	close(out[1]);
	close(in[1]); /* the end of its input: it answers "done" and exits 0 */
	wait_all(ps, 2);
	T_CHECK(cl_proc_running(ps, 2) == 0, "still running: %d", cl_proc_running(ps, 2));
	T_CHECK(cl_proc_failed(&ps[0]) && !cl_proc_failed(&ps[1]), "failed %d %d", cl_proc_failed(&ps[0]),
		cl_proc_failed(&ps[1]));
	T_CHECK(cl_bytes_count(&ps[0].err) == 20 && !memcmp(ps[0].err.p + ps[0].err.off, "sh: something broke\n", 20),
		"stderr of %zu bytes", cl_bytes_count(&ps[0].err));
	T_CHECK(!strcmp(cl_proc_describe(&ps[0], how, sizeof how), "exit status 3"), "%s", how);
	char buf[16] = "";
	T_CHECK(read(out[0], buf, sizeof buf) == 5 && !memcmp(buf, "done\n", 5), "stdout '%s'", buf);
	close(out[0]);
	cl_proc_cleanup(ps, 2);
	t_end();

	t_begin("a child we stop is not a failure; one killed by another signal is");
	char *sleeper[] = {"sleep", "30", NULL};
	char *crash[] = {"sh", "-c", "kill -SEGV $$", NULL};
	T_CHECK(cl_proc_spawn(&ps[0], sleeper, -1, -1) == CL_OK, "%s", cl_errmsg());
	T_CHECK(cl_proc_spawn(&ps[1], crash, -1, -1) == CL_OK, "%s", cl_errmsg());
	cl_proc_kill(ps, 1);
	wait_all(ps, 2);
	T_CHECK(ps[0].exited && !cl_proc_failed(&ps[0]), "stopped child: failed %d", cl_proc_failed(&ps[0]));
	T_CHECK(ps[1].exited && cl_proc_failed(&ps[1]), "crashed child: failed %d", cl_proc_failed(&ps[1]));
	T_CHECK(strstr(cl_proc_describe(&ps[1], how, sizeof how), "signal 11") != NULL, "%s", how);
	cl_proc_cleanup(ps, 2);
	t_end();

	t_begin("a program that cannot run is an error naming it");
	char *none[] = {"cl-no-such-program", NULL};
	T_CHECK(cl_proc_spawn(&ps[0], none, -1, -1) == CL_ERR_IO, "spawned");
	T_CHECK(strstr(cl_errmsg(), "cl-no-such-program: cannot run") != NULL, "%s", cl_errmsg());
	T_CHECK(ps[0].pid == 0 && ps[0].err_fd == -1, "pid %d fd %d", (int)ps[0].pid, ps[0].err_fd);
	cl_proc_cleanup(ps, 1);
	t_end();

	t_begin("a byte queue drains into a non-blocking pipe as far as it takes, then the rest");
	struct cl_bytes q = {0};
	static char big[1 << 20];
	memset(big, 'x', sizeof big);
	T_CHECK(cl_bytes_add(&q, big, sizeof big) == CL_OK, "add");
	T_CHECK(pipe2(in, O_CLOEXEC | O_NONBLOCK) == 0, "pipe");
	T_CHECK(cl_bytes_write(&q, in[1]) == CL_OK, "%s", cl_errmsg());
	size_t left = cl_bytes_count(&q), got = 0;
	T_CHECK(left > 0 && left < sizeof big, "left %zu", left);
	static char sink[1 << 16];
	ssize_t r;
	while (cl_bytes_count(&q) || got < sizeof big) {
		while ((r = read(in[0], sink, sizeof sink)) > 0)
			got += (size_t)r;
		if (cl_bytes_write(&q, in[1]) != CL_OK)
			break;
		if (r < 0 && errno != EAGAIN)
			break;
	}
	T_CHECK(got == sizeof big && cl_bytes_count(&q) == 0, "got %zu", got);
	close(in[0]);
	T_CHECK(cl_bytes_add(&q, "y", 1) == CL_OK && cl_bytes_write(&q, in[1]) == CL_ERR_PIPE,
		"a closed reader is CL_ERR_PIPE");
	close(in[1]);
	cl_bytes_free(&q);
	t_end();
	return t_exit();
}
