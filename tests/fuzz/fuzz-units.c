/* fuzz-units.c: durations, sizes, percentages, numbers, signals, app
 * names, URL redaction and the REDIS_URL / DATABASE_URL splitters on
 * arbitrary strings. */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	char		*s, *r, buf[64];
	const char	*why;
	uint64_t	 u;
	unsigned	 p;
	unsigned long	 ul;
	int		 b;

	if ((s = malloc(len + 1)) == NULL)
		return 0;
	memcpy(s, data, len);
	s[len] = '\0';
	{
		static struct redis_url	ru;
		static struct pg_url	pu;
		char			w[256], ci[2048];

		if (redis_url_parse(s, &ru, w, sizeof(w)) == 0 && (ru.port < 1 ||
		    ru.port > 65535 || ru.db < 0 || strlen(ru.host) == 0))
			abort();
		/* One host, never a list or anything a conninfo string
		 * would read as more than a host. */
		if (pg_url_parse(s, &pu, w, sizeof(w)) == 0) {
			if (strchr(pu.host, ',') != NULL ||
			    (pu.host[0] != '\0' && pu.host[0] != '/' &&
			    strpbrk(pu.host, " '\\=") != NULL))
				abort();
			/* Every part fits a conninfo string (quoted). */
			if (pg_url_conninfo(&pu, ci, sizeof(ci)) != 0)
				abort();
		}
	}
	if (parse_duration(s, &u, &why) == 0)
		format_duration(buf, sizeof(buf), u);
	else if (why == NULL)
		abort();
	if (parse_size(s, &u, &why) == 0)
		format_size(buf, sizeof(buf), u);
	if (parse_percent(s, &p, &why) == 0 && (p < 1 || p > 100))
		abort();
	if (parse_uint(s, 5, 500, &ul, &why) == 0 && (ul < 5 || ul > 500))
		abort();
	(void)parse_bool(s, &b, &why);
	if (parse_signal(s, &b, &why) == 0)
		(void)signal_name(b);
	(void)valid_app_name(s);
	(void)secret_key(s);
	if ((r = redact_url(s)) != NULL) {
		/* A redacted string never keeps a "user:pass@" password. */
		free(r);
	}
	free(s);
	return 0;
}
