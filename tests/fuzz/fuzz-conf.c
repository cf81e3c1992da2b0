/* fuzz-conf.c: tend.conf handling after inih (our reader, the stash of
 * long lines, the key table, defaults and cross checks). */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct errs	 x;
	struct conf	*c;
	size_t		 i;

	errs_init(&x);
	c = conf_parse((const char *)data, len, "/etc/tend/tend.conf", &x);
	if (c != NULL) {
		/* A conf that parsed is whole: every app has what it needs. */
		if (x.n != 0)
			abort();
		for (i = 0; i < c->n_apps; i++)
			if (c->apps[i]->command == NULL || c->apps[i]->dir == NULL ||
			    c->apps[i]->canon == NULL ||
			    !valid_app_name(c->apps[i]->name))
				abort();
		conf_free(c);
	} else if (x.n == 0 && !x.oom)
		abort();	/* refused without saying why */
	errs_free(&x);
	return 0;
}
