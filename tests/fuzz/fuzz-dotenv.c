/* fuzz-dotenv.c: .env text must never crash, leak, or quote a value in
 * an error message. */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct env	e;
	struct errs	x;
	size_t		i;

	env_init(&e);
	errs_init(&x);
	dotenv_parse((const char *)data, len, "f.env", &e, &x);
	/* Every entry is KEY=value with a valid key. */
	for (i = 0; i < e.n; i++) {
		const char *eq = strchr(e.kv[i], '=');

		if (eq == NULL || !env_valid_key(e.kv[i], (size_t)(eq - e.kv[i])))
			abort();
	}
	if (e.n > 0 && e.kv[e.n] != NULL)
		abort();
	env_free(&e);
	errs_free(&x);
	return 0;
}
