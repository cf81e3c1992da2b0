/* test-url.c: DATABASE_URL and REDIS_URL split into the parts tend
 * honours; every other parameter refused by name, never by value. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tend.h"
#include "check.h"

static struct pg_url	pu;
static struct redis_url	ru;
static char		why[256];

static int
pg(const char *url)
{
	why[0] = '\0';
	return pg_url_parse(url, &pu, why, sizeof(why));
}

static int
redis(const char *url)
{
	why[0] = '\0';
	return redis_url_parse(url, &ru, why, sizeof(why));
}

static void
test_pg_parts(void)
{
	CHECK(pg("postgres://app:s%40cr%3At@127.0.0.1:5433/sh%20op") == 0);
	CHECK(strcmp(pu.user, "app") == 0);
	CHECK(strcmp(pu.pass, "s@cr:t") == 0);
	CHECK(strcmp(pu.host, "127.0.0.1") == 0);
	CHECK(strcmp(pu.port, "5433") == 0);
	CHECK(strcmp(pu.db, "sh op") == 0);
	CHECK(pu.sslmode[0] == '\0');
	CHECK(pg("postgresql://u@[::1]:5432/db?sslmode=verify-full") == 0);
	CHECK(strcmp(pu.host, "::1") == 0 && strcmp(pu.port, "5432") == 0);
	CHECK(strcmp(pu.sslmode, "verify-full") == 0);
	/* The last '@' ends the userinfo. */
	CHECK(pg("postgres://u:p@ss@db.example.com/x") == 0);
	CHECK(strcmp(pu.pass, "p@ss") == 0);
	CHECK(strcmp(pu.host, "db.example.com") == 0);
	CHECK(pg("postgres:///shop") == 0 && pu.host[0] == '\0' &&
	    strcmp(pu.db, "shop") == 0);
	CHECK(pg("postgres://") == 0);
	/* Query parameters tend honours; names decoded too. */
	CHECK(pg("postgres://h/d?host=h2&port=6000&user=v&dbname=e&ssl%6Dode="
	    "require&") == 0);
	CHECK(strcmp(pu.host, "h2") == 0 && strcmp(pu.port, "6000") == 0);
	CHECK(strcmp(pu.user, "v") == 0 && strcmp(pu.db, "e") == 0);
	CHECK(strcmp(pu.sslmode, "require") == 0);
}

static void
test_pg_sockets(void)
{
	CHECK(pg("postgres://app@%2Frun%2Fpostgresql/shop") == 0);
	CHECK(strcmp(pu.host, "/run/postgresql") == 0);
	CHECK(pg("postgres:///shop?host=/var/run/postgresql") == 0);
	CHECK(strcmp(pu.host, "/var/run/postgresql") == 0);
	CHECK(pg("postgres:///shop?host=/a,/b") != 0);
	CHECK(pg("postgres:///shop?host=/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") != 0);
}

static void
test_pg_refused(void)
{
	static const char *const names[] = { "sslkey", "sslcert",
	    "sslrootcert", "passfile", "service", "options",
	    "application_name", "connect_timeout", "hostaddr",
	    "target_session_attrs", "sslcrl", "krbsrvname" };
	char	url[200], want[100];
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(url, sizeof(url), "postgres://u:pw@h/d?sslmode=disable"
		    "&%s=/home/u/x", names[i]);
		snprintf(want, sizeof(want), "parameter \"%s\" is not supported",
		    names[i]);
		CHECK(pg(url) != 0);
		CHECK(strncmp(why, want, strlen(want)) == 0);
		CHECK(strstr(why, "/home/u/x") == NULL);
	}
	/* Any encoding of a name is that name. */
	CHECK(pg("postgres://u@h/d?pass%77ord=x") != 0);
	CHECK(strncmp(why, "parameter \"password\" is not supported", 37) == 0);
	CHECK(pg("postgres://u@h/d?%70%61%73%73%66%69%6c%65=/tmp/p") != 0);
	CHECK(strncmp(why, "parameter \"passfile\"", 20) == 0);
	/* A name that is not a name is not quoted back. */
	CHECK(pg("postgres://u@h/d?hunter2%20x=1") != 0);
	CHECK(strstr(why, "hunter2") == NULL);
	CHECK(pg("postgres://u@h/d?sslmode=no-verify") != 0);
	CHECK(pg("postgres://u@h/d?sslmode") != 0);
	CHECK(strcmp(why, "parameter \"sslmode\" has no value") == 0);
	CHECK(pg("postgres://u@h/d?port=0") != 0);
	CHECK(pg("postgres://u@h:99999/d") != 0);
	CHECK(pg("postgres://u@h:5432,h2:5432/d") != 0);
	CHECK(pg("postgres://u@h1,h2/d") != 0);
	CHECK(strstr(why, "several hosts") != NULL);
	CHECK(pg("postgres://u@h%20-c/d") != 0);
	CHECK(pg("postgres://u@-h/d") != 0);
	CHECK(pg("postgres://u@h/d#frag") != 0);
	CHECK(pg("postgres://u:p%00w@h/d") != 0);
	CHECK(pg("postgres://u:p%4@h/d") != 0);
	CHECK(pg("postgres://u@[::1/d") != 0);
	CHECK(pg("mysql://u@h/d") != 0);
	CHECK(pg("postgres://u@h/d?user=a%00b") != 0);
}

static void
test_conninfo(void)
{
	char	buf[512];

	CHECK(pg("postgres://o%27brien:secret@127.0.0.1:5432/my%5Cdb"
	    "?sslmode=require") == 0);
	CHECK(pg_url_conninfo(&pu, buf, sizeof(buf)) == 0);
	CHECK(strcmp(buf, "host='127.0.0.1' port='5432' user='o\\'brien' "
	    "dbname='my\\\\db' sslmode='require'") == 0);
	CHECK(strstr(buf, "secret") == NULL);
	CHECK(pg("postgres:///shop") == 0);
	CHECK(pg_url_conninfo(&pu, buf, sizeof(buf)) == 0);
	CHECK(strcmp(buf, "dbname='shop'") == 0);
	CHECK(pg("postgres://u@h/d") == 0);
	CHECK(pg_url_conninfo(&pu, buf, 10) != 0);
}

static void
test_redis(void)
{
	CHECK(redis("redis://:rp%40ss@127.0.0.1:6380/3") == 0);
	CHECK(strcmp(ru.pass, "rp@ss") == 0 && ru.user[0] == '\0');
	CHECK(strcmp(ru.host, "127.0.0.1") == 0 && ru.port == 6380);
	CHECK(ru.db == 3 && !ru.tls);
	CHECK(redis("rediss://default:pw@cache.example.com") == 0);
	CHECK(ru.tls && ru.port == 6379 && strcmp(ru.user, "default") == 0);
	CHECK(redis("redis://[::1]:7000") == 0 && strcmp(ru.host, "::1") == 0);
	CHECK(redis("redis://h/x") != 0);
	CHECK(redis("redis://h:0") != 0);
	CHECK(redis("redis://") != 0);
	CHECK(redis("redis://%2Ftmp%2Fr.sock") != 0);
	CHECK(redis("redis://h/0?password=x") != 0);
	CHECK(strncmp(why, "parameter \"password\" is not supported", 37) == 0);
	CHECK(redis("redis://h/0?db=2") != 0);
	CHECK(strncmp(why, "parameter \"db\"", 14) == 0);
	CHECK(redis("http://h") != 0);
}

int
main(void)
{
	RUN(test_pg_parts);
	RUN(test_pg_sockets);
	RUN(test_pg_refused);
	RUN(test_conninfo);
	RUN(test_redis);
	return check_failed();
}
