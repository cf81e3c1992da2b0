/*
 * version.c: what `tendd --version` and `tendctl --version` say: the
 * release (configure.ac) and the git commit the programs were built from.
 * The Makefile writes src/commit.h at every build and replaces it only
 * when the commit changed; outside a git checkout it says "unknown".
 */
#include "tend.h"
#include "src/commit.h"

const char tend_version[] = PACKAGE_VERSION;
const char tend_commit[] = TEND_COMMIT;
