/*
 * top.c: `tendctl top`, a live view like `pm2 monit`: every app and
 * instance with its state, CPU, memory, restarts and uptime (the status
 * table, ctl-status.c), fetched once a second and sorted by CPU or
 * memory.  It needs no curses: the terminal is put in cbreak mode with
 * termios and drawn with a few ANSI sequences every terminal emulator
 * and SSH session knows (alternate screen, home, clear to end of line).
 *
 * The terminal is always given back as it was: on q, on EOF, on SIGINT,
 * SIGQUIT, SIGTERM and SIGHUP, and on any exit (atexit), including a tendd that
 * went away mid-view; ^Z gives it back until fg.  Whatever was said on stderr while the view was up
 * would vanish with the alternate screen, so it is kept in a temporary
 * file and said again once the terminal is back.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tendctl.h"

#define TOP_REFRESH_MS	1000
/* Lines above the table: the title and a blank. */
#define TOP_HEAD_LINES	2

enum top_sort { SORT_CPU, SORT_MEM, SORT_NAME };
static const char *const sort_names[] = { "CPU", "memory", "name" };

/* File scope: the signal handlers and atexit() reach nothing else. */
static struct termios	 saved_tio;
static int		 term_raw;
static int		 saved_err = -1;
static FILE		*err_keep;
static volatile sig_atomic_t got_quit, got_winch, got_tstp;

static void
top_signal(int sig)
{
	if (sig == SIGWINCH)
		got_winch = 1;
	else if (sig == SIGTSTP)
		got_tstp = 1;
	else
		got_quit = sig;
}

/* The terminal as it was: modes, main screen, cursor. */
static void
term_leave(void)
{
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
}

/* cbreak: keys one at a time, unechoed; ^C and ^Z still signal.  Then
 * the alternate screen, cursor hidden. */
static int
term_enter(void)
{
	struct termios	tio = saved_tio;

	tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) != 0)
		return -1;
	fputs("\033[?1049h\033[?25l", stdout);
	fflush(stdout);
	return 0;
}

/* ^Z: give the shell its terminal, stop, and take it again on fg. */
static void
term_suspend(void)
{
	struct sigaction	sa, old;

	got_tstp = 0;
	term_leave();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, &old);
	raise(SIGTSTP);			/* stopped here until SIGCONT */
	sigaction(SIGTSTP, &old, NULL);
	term_enter();
}

static void
term_restore(void)
{
	char	buf[4096];
	size_t	n;

	if (!term_raw)
		return;
	term_raw = 0;
	term_leave();
	if (saved_err != -1) {
		fflush(stderr);
		dup2(saved_err, STDERR_FILENO);
		close(saved_err);
		saved_err = -1;
		rewind(err_keep);
		while ((n = fread(buf, 1, sizeof(buf), err_keep)) > 0)
			if (write(STDERR_FILENO, buf, n) < 0)
				break;
		fclose(err_keep);
		err_keep = NULL;
	}
}

static int
term_setup(void)
{
	struct sigaction	 sa;

	if (tcgetattr(STDIN_FILENO, &saved_tio) != 0 || term_enter() != 0)
		return -1;
	term_raw = 1;
	atexit(term_restore);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = top_signal;	/* no SA_RESTART: poll returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);	/* ^\ kills like ^C */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGTSTP, &sa, NULL);
	if ((err_keep = tmpfile()) != NULL &&
	    (saved_err = dup(STDERR_FILENO)) != -1)
		dup2(fileno(err_keep), STDERR_FILENO);
	return 0;
}

static enum top_sort	 sort_key;

static int
app_cmp(const void *pa, const void *pb)
{
	json_t		*a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	double		 x = 0, y = 0;

	if (sort_key == SORT_CPU) {
		x = json_number_value(json_object_get(a, "cpu_percent"));
		y = json_number_value(json_object_get(b, "cpu_percent"));
	} else if (sort_key == SORT_MEM) {
		x = (double)json_integer_value(json_object_get(a, "rss_bytes"));
		y = (double)json_integer_value(json_object_get(b, "rss_bytes"));
	}
	if (x != y)
		return x < y ? 1 : -1;	/* the busiest first */
	return strcmp(json_string_value(json_object_get(a, "name")) ?: "",
	    json_string_value(json_object_get(b, "name")) ?: "");
}

/* The apps of a reply, in the order asked for: a new array. */
static json_t *
sorted_apps(json_t *reply)
{
	json_t	*apps = json_object_get(reply, "apps"), *out, **v;
	size_t	 i, n = json_array_size(apps);

	if ((out = json_array()) == NULL)
		return NULL;
	if (n == 0)
		return out;
	if ((v = calloc(n, sizeof(*v))) == NULL) {
		json_decref(out);
		return NULL;
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(apps, i);
	qsort(v, n, sizeof(*v), app_cmp);
	for (i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

/* One frame, written at once (no flicker). */
struct frame {
	char	*buf;
	size_t	 len;
	FILE	*f;
};

static void
frame_line(void *arg, const char *line)
{
	struct frame	*fr = arg;

	fputs(line, fr->f);
	fputs("\033[K\n", fr->f);	/* the rest of the old line */
}

static void
draw(json_t *reply, int color)
{
	struct winsize		 ws;
	struct frame		 fr;
	struct status_table	*tb;
	json_t			*apps, *a;
	size_t			 rows = 24, cols = 80, i, live = 0;
	char			 now[16], title[256];
	time_t			 t = time(NULL);
	struct tm		 tm;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	memset(&fr, 0, sizeof(fr));
	if ((fr.f = open_memstream(&fr.buf, &fr.len)) == NULL)
		return;
	fputs("\033[H", fr.f);
	apps = reply != NULL ? sorted_apps(reply) : NULL;
	json_array_foreach(apps, i, a)
		live += strcmp(json_string_value(json_object_get(a, "state")) ?:
		    "", "live") == 0;
	localtime_r(&t, &tm);
	strftime(now, sizeof(now), "%H:%M:%S", &tm);
	snprintf(title, sizeof(title), "tend top  %s  %zu apps, %zu live  "
	    "sorted by %s  (c CPU, m memory, n name, q quit)", now,
	    json_array_size(apps), live, sort_names[sort_key]);
	if (strlen(title) > cols)
		title[cols] = '\0';
	frame_line(&fr, title);
	frame_line(&fr, "");
	if (apps != NULL && rows > TOP_HEAD_LINES) {
		tb = status_table_new(apps, STATUS_NO_WARN |
		    (color ? STATUS_COLOR : 0));
		/* The last row stays free: a line written there would
		 * scroll the screen. */
		status_table_emit(tb, cols, rows - TOP_HEAD_LINES - 1,
		    frame_line, &fr);
		status_table_free(tb);
	}
	fputs("\033[J", fr.f);	/* below the table: nothing */
	json_decref(apps);
	if (fclose(fr.f) == 0) {
		fwrite(fr.buf, 1, fr.len, stdout);
		fflush(stdout);
	}
	free(fr.buf);
}

int
top_main(json_t *(*fetch)(void *), void *arg, int color)
{
	struct pollfd	 pfd;
	json_t		*reply = NULL;
	uint64_t	 next = 0, now;
	char		 keys[64];
	ssize_t		 n, i;
	int		 quit = 0, redraw, read_errno = 0;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "tendctl: top needs a terminal; for a "
		    "snapshot use tendctl status\n");
		return EXIT_USAGE;
	}
	if (term_setup() != 0) {
		fprintf(stderr, "tendctl: top: cannot set up the terminal: "
		    "%s\n", strerror(errno));
		return EXIT_FAIL;
	}
	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	while (!quit && !got_quit) {
		redraw = 0;
		if ((now = time_mono_ms()) >= next) {
			json_decref(reply);
			reply = fetch(arg);
			next = now + TOP_REFRESH_MS;
			redraw = 1;
		}
		if (got_tstp) {
			term_suspend();
			redraw = 1;
		}
		if (got_winch) {
			got_winch = 0;
			redraw = 1;
		}
		if (redraw)
			draw(reply, color);
		now = time_mono_ms();
		if (poll(&pfd, 1, next > now ? (int)(next - now) : 0) <= 0)
			continue;	/* the tick, or a signal */
		if ((n = read(STDIN_FILENO, keys, sizeof(keys))) == 0)
			break;		/* the terminal went away */
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			read_errno = errno;	/* EIO: a hung-up tty */
			break;
		}
		for (i = 0; i < n; i++)
			switch (keys[i]) {
			case 'q':
			case 'Q':
				quit = 1;
				break;
			case 'c':
				sort_key = SORT_CPU;
				break;
			case 'm':
				sort_key = SORT_MEM;
				break;
			case 'n':
				sort_key = SORT_NAME;
				break;
			}
		if (!quit && n > 0)
			draw(reply, color);
	}
	json_decref(reply);
	term_restore();
	if (read_errno != 0) {
		fprintf(stderr, "tendctl: top: reading the terminal: %s\n",
		    strerror(read_errno));
		return EXIT_FAIL;
	}
	return got_quit ? 128 + got_quit : 0;
}
