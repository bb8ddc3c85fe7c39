/*
 * init.cpp — library entry: settings, shared memory and the supervisor.
 *
 * concord must be in shared_preload_libraries: its workers need shared memory
 * and a supervisor registered at postmaster start.  Loaded any other way (a
 * walsender loading the output plugin in a server that did not preload it)
 * only the settings are defined; the SQL functions then refuse to work.
 */
extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
}

#include "extension/settings.hpp"
#include "extension/shmem/shared_state.hpp"
#include "worker/supervisor/supervisor.hpp"

extern "C" {
PG_MODULE_MAGIC;
void _PG_init(void);
}

void _PG_init(void) {
	concord::settings::Define();
	if (!process_shared_preload_libraries_in_progress)
		return;
	concord::shmem::InstallHooks();
	concord::supervisor::RegisterSupervisor();
}
