/*
 * import.h: tendctl's commands that read other tools' files and print
 * tend.conf; they never talk to tendd.
 */
#ifndef TEND_IMPORT_H
#define TEND_IMPORT_H

#include <sys/stat.h>
#include <stdint.h>

/* tendctl import pm2 FILE [--env NAME] [--env-dir DIR] [--timeout D]:
 * argv[0] is "import".  Returns 0, or exits 1 (failed) or 2 (usage). */
int	import_main(int argc, char **argv);

/* import-load.c: the file as one JSON value, by its name: .js .cjs .mjs
 * through node (killed after timeout ms), .yaml .yml through libyaml,
 * anything else (.json, dump.pm2) as JSON.  st is the file's.  On any
 * error it prints "tendctl: FILE: why" and exits 1. */
struct json_t;
struct import_src {
	const char	*file;
	uint64_t	 timeout;
	struct stat	 st;
	uid_t		 ran_as;	/* root had node run as this user; 0: not */
};
struct json_t *import_load(struct import_src *);
/* Control characters of s to '?' (a final newline kept when keep_nl). */
void	import_clean(char *s, int keep_nl);
void	import_die(const char *file, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

#endif /* TEND_IMPORT_H */
