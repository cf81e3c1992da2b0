/*
 * tendctl.h: what the client's files share: tendctl.c (the command line
 * and the socket), ctl-status.c (the status table), ctl-help.c (help,
 * version, completion) and top.c (the live view).  tendd never includes
 * it.
 */
#ifndef TENDCTL_H
#define TENDCTL_H

#include <stdio.h>
#include <jansson.h>

#include "tend.h"

#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_UNREACH	3

/* ctl-status.c: the status table, column widths from the data. */
#define STATUS_COLOR	0x1	/* colour states (ANSI) */
#define STATUS_NO_WARN	0x2	/* leave out the apps' warning lines */
struct status_table;
struct status_table *status_table_new(json_t *apps, int flags);
/* Each line through emit(arg, text, visible width); lines past max_rows
 * (0: all) are not emitted; each is cut at max_cols visible columns
 * (0: never). */
void	status_table_emit(struct status_table *, size_t max_cols,
	    size_t max_rows, void (*emit)(void *, const char *), void *);
size_t	status_table_rows(const struct status_table *);
void	status_table_free(struct status_table *);
void	status_print(json_t *apps, int flags);
/* Should output to fd be coloured: a terminal, NO_COLOR unset or empty,
 * TERM not "dumb". */
int	want_color(int fd);

/* ctl-help.c */
void	ctl_help(FILE *, const char *cmd);
int	ctl_help_known(const char *cmd);
void	ctl_cmd_usage(FILE *, const char *cmd);
void	ctl_version(void);
/* The words a shell may complete after words[0..n-1] (the last one being
 * completed), one a line; app names come from names(arg). */
void	ctl_complete(int n, char **words, json_t *(*names)(void *,
	    const char *sock, const char *conf), void *arg);

/* tendctl-fleet.c: status --fleet and releases --fleet. */
void	tendctl_print_fleet(json_t *);
void	tendctl_print_fleet_releases(json_t *);

/* top.c: the live view; fetch(arg) is a status reply or NULL. */
int	top_main(json_t *(*fetch)(void *), void *arg, int color);

#endif /* TENDCTL_H */
