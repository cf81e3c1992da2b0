/*
 * tendctl-fleet.c: `tendctl status --fleet` for people: one line per
 * host and app (state, release, heartbeat age on the database's clock,
 * LOST when it is older than the lease), then the fleet deploy, running
 * or last, with each host's step.  --json prints the reply as it came.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "tendctl.h"

static const char *
str(json_t *o, const char *k)
{
	const char	*s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "-";
}

static void
print_deploy(json_t *d)
{
	json_t		*steps = json_object_get(d, "steps"), *s;
	const char	*state = str(d, "state");
	size_t		 i;
	int		 running = strcmp(state, "running") == 0 &&
			    json_is_true(json_object_get(d, "held"));

	printf("\n%s fleet %s of %s (ref %s), generation %lld, by %s since %s: "
	    "%s%s%s\n", running ? "running:" : "last:", str(d, "kind"),
	    str(d, "app"), str(d, "ref"),
	    (long long)json_integer_value(json_object_get(d, "generation")),
	    str(d, "holder"), str(d, "since"),
	    strcmp(state, "running") == 0 && !running ?
	    "lease expired (holder gone)" : state,
	    json_is_string(json_object_get(d, "detail")) ? ": " : "",
	    json_is_string(json_object_get(d, "detail")) ? str(d, "detail") :
	    "");
	if (running)
		printf("lease until %s\n", str(d, "lease_until"));
	json_array_foreach(steps, i, s)
		printf("  %-20s %-12s %s%s%s\n", str(s, "host"), str(s, "step"),
		    str(s, "at"), json_is_string(json_object_get(s, "detail")) ?
		    "  " : "", json_is_string(json_object_get(s, "detail")) ?
		    str(s, "detail") : "");
}

void
tendctl_print_fleet(json_t *reply)
{
	json_t		*hosts = json_object_get(reply, "hosts"), *h, *apps, *a,
			*d = json_object_get(reply, "deploy");
	const char	*me = str(reply, "host"), *name;
	size_t		 i;
	char		 age[32], st[16];
	int		 first;

	printf("this host: %s; fleet database: %s (its clock: %s)\n", me,
	    str(json_object_get(reply, "connection"), "state"),
	    str(reply, "db_time"));
	printf("%-20s %-8s %10s  %-16s %-10s %s\n", "HOST", "STATUS",
	    "HEARTBEAT", "APP", "STATE", "RELEASE");
	json_array_foreach(hosts, i, h) {
		format_duration(age, sizeof(age),
		    (uint64_t)json_integer_value(json_object_get(h, "age_ms")));
		snprintf(st, sizeof(st), "%s",
		    json_is_true(json_object_get(h, "lost")) ? "LOST" :
		    str(h, "status"));
		apps = json_object_get(h, "apps");
		first = 1;
		json_object_foreach(apps, name, a) {
			printf("%-20s %-8s %10s  %-16s %-10s %s\n",
			    first ? str(h, "host") : "", first ? st : "",
			    first ? age : "", name, str(a, "state"),
			    *str(a, "release") ? str(a, "release") : "-");
			first = 0;
		}
		if (first)
			printf("%-20s %-8s %10s  %s\n", str(h, "host"), st, age,
			    "(no apps)");
	}
	if (json_is_object(d))
		print_deploy(d);
	else
		printf("\nno fleet deploy has run\n");
}

/* releases APP --fleet: each release, newest first, and the hosts that
 * ran it ('*': runs it now). */
void
tendctl_print_fleet_releases(json_t *reply)
{
	json_t		*r;
	size_t		 i;
	const char	*last = "";

	printf("  %-28s %-20s %-24s %s\n", "RELEASE", "HOST", "FIRST SEEN",
	    "LAST SEEN");
	json_array_foreach(json_object_get(reply, "runs"), i, r) {
		printf("%s %-28s %-20s %-24s %s%s\n",
		    json_is_true(json_object_get(r, "current")) ? "*" : " ",
		    strcmp(last, str(r, "release")) != 0 ? str(r, "release") : "",
		    str(r, "host"), str(r, "first_seen"), str(r, "last_seen"),
		    json_is_true(json_object_get(r, "lost")) ? "  (host LOST)" :
		    "");
		last = str(r, "release");
	}
}
