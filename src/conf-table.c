/*
 * conf-table.c: every key of tend.conf, one row each: name, type, where it
 * is stored, its range, its default (a string parsed exactly like user
 * input, so there is one code path) and a line of help.  conf.c reads
 * these rows; tend.conf(5) documents them.
 */
#define _GNU_SOURCE
#include <stddef.h>

#include "tend.h"

#define T(f)	offsetof(struct conf, f)
#define A(f)	offsetof(struct conf_app, f)
#define DAY	(86400000UL)

const struct conf_key conf_tend_keys[] = {
	{ "socket", CT_PATH, T(socket), 0, 0, TEND_DEFAULT_SOCKET,
	  "control socket" },
	{ "socket_group", CT_STR, T(socket_group), 0, 0, NULL,
	  "group whose members may use tendctl" },
	{ "state_dir", CT_PATH, T(state_dir), 0, 0, "/var/lib/tend",
	  "runtime state and deploy history" },
	{ "log_dir", CT_PATH, T(log_dir), 0, 0, "/var/log/tend",
	  "where APP.log files go" },
	{ "log_max_size", CT_SIZE, T(log_max_size), 64 * 1024, 0, "10M",
	  "rotate an app's log at this size" },
	{ "log_keep", CT_UINT, T(log_keep), 0, 100, "5",
	  "rotated logs kept per app" },
	{ "log_lines", CT_UINT, T(log_lines), 0, 100000, "200",
	  "lines kept in memory per app for tendctl logs" },
	{ "log_journal", CT_AUTOBOOL, T(log_journal), 0, 0, "auto",
	  "copy app output to the journal" },
	{ NULL, 0, 0, 0, 0, NULL, NULL }
};

const struct conf_key conf_app_keys[] = {
	{ "dir", CT_PATH, A(dir), 0, 0, NULL, "app directory (cwd)" },
	{ "env_file", CT_PATHV, A(env_files), 0, 0, NULL,
	  "dotenv file; may repeat, later wins" },
	{ "env", CT_ENVV, A(envs), 0, 0, NULL,
	  "KEY=value; may repeat, wins over env_file" },
	{ "user", CT_USER, A(user), 0, 0, NULL, "run as this user" },
	{ "group", CT_USER, A(group), 0, 0, NULL, "run with this group" },
	{ "command", CT_CMD, A(command), 0, 0, NULL,
	  "run as /bin/sh -c 'exec COMMAND'" },
	{ "port", CT_PORT, A(port), 1, 65535, NULL, "exported as PORT" },
	{ "instances", CT_UINT, A(instances), 1, APP_MAX_INSTANCES, "1",
	  "copies, on consecutive ports" },
	{ "heap", CT_HEAP, A(heap_mode), 0, 0, "off",
	  "--max-old-space-size: off, N% of memory, or a size" },
	{ "health", CT_HEALTH, A(health), 0, 0, "off",
	  "HTTP path that answers 2xx when ready" },
	{ "health_body", CT_STR, A(health_body), 0, 0, NULL,
	  "text the health answer must contain" },
	{ "ready_timeout", CT_DURATION, A(ready_timeout), 1, DAY, "60s",
	  "give up on a start after this long" },
	{ "min_ready", CT_DURATION, A(min_ready), 0, DAY, "1s",
	  "with health = off: live after running this long" },
	{ "health_interval", CT_DURATION, A(health_interval), 100, DAY, "10s",
	  "time between checks while live" },
	{ "health_timeout", CT_DURATION, A(health_timeout), 10, DAY, "3s",
	  "one check's time limit" },
	{ "health_failures", CT_UINT, A(health_failures), 1, 100, "3",
	  "failed checks in a row before a restart" },
	{ "restart", CT_RESTART, A(restart), 0, 0, "always",
	  "always, on-failure or never" },
	{ "restart_delay", CT_DURATION, A(restart_delay), 0, DAY, "100ms",
	  "first restart delay" },
	{ "restart_delay_max", CT_DURATION, A(restart_delay_max), 0, DAY,
	  "30s", "longest restart delay" },
	{ "min_uptime", CT_DURATION, A(min_uptime), 0, DAY, "30s",
	  "a run this long resets the backoff" },
	{ "start_limit", CT_UINT, A(start_limit), 0, 1000, "10",
	  "more restarts than this in start_limit_interval: failed" },
	{ "start_limit_interval", CT_DURATION, A(start_limit_interval), 1,
	  DAY * 30, "5m", "window of start_limit" },
	{ "kill_timeout", CT_DURATION, A(kill_timeout), 0, DAY, "10s",
	  "SIGKILL after this long" },
	{ "stop_signal", CT_SIGNAL, A(stop_signal), 0, 0, "SIGTERM",
	  "signal that asks the app to stop" },
	{ "max_memory", CT_SIZE, A(max_memory), 1024 * 1024, 0, NULL,
	  "restart when the process tree's RSS stays above this" },
	{ "max_memory_for", CT_DURATION, A(max_memory_for), 0, DAY, "10s",
	  "how long RSS may stay above max_memory" },
	{ "autostart", CT_BOOL, A(autostart), 0, 0, "yes",
	  "start when tendd starts" },
	{ "profile", CT_PROFILE, A(profile), 0, 0, "none",
	  "none or medusa: defaults and environment rules" },
	{ "preflight", CT_BOOL, A(preflight), 0, 0, "yes",
	  "check DATABASE_URL and REDIS_URL before a start" },
	{ "preflight_timeout", CT_DURATION, A(preflight_timeout), 1000, DAY,
	  "30s", "how long a start waits for a database that may come up" },
	{ "db_pool_max", CT_UINT, A(db_pool_max), 1, 100000, "10",
	  "connections one instance may open (connection budget)" },
	{ "create_database", CT_BOOL, A(create_database), 0, 0, "no",
	  "create DATABASE_URL's database when it does not exist" },
	{ "migrate", CT_OPTCMD, A(migrate), 0, 0, NULL,
	  "run before the first start of a release; off: none" },
	{ "migrate_timeout", CT_DURATION, A(migrate_timeout), 1000, DAY,
	  "10m", "a migration running longer is killed and fails" },
	{ "backup_before_migrate", CT_PATH, A(backup_dir), 0, 0, NULL,
	  "pg_dump -Fc into this directory before migrating" },
	{ "backup_keep", CT_UINT, A(backup_keep), 1, 1000, "5",
	  "dumps kept per app" },
	{ NULL, 0, 0, 0, 0, NULL, NULL }
};
