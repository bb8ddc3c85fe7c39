/*
 * supervisor.hpp — concord's process tree.
 *
 *   postmaster
 *    └─ concord supervisor       (static worker, no database)
 *        └─ concord manager      (one per database with a concord node)
 *            └─ concord apply    (one per enabled subscription)
 *
 * The supervisor starts a manager in every database at startup and in any
 * database where a configuration function asks for one; a manager that finds
 * no concord node exits and is not restarted until asked again.  A manager
 * keeps one apply worker per enabled subscription alive, restarting failed
 * ones after a back-off, and cleans up what unsubscribed peers left behind.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "postmaster/bgworker.h"
}

namespace concord::supervisor {

/* Registers the supervisor; called from _PG_init in the postmaster. */
void RegisterSupervisor();

/*
 * Starts a dynamic worker running `function` (a concord_*_main symbol) in
 * database dboid, notifying the calling process when it stops.  Returns
 * false if no background worker slot was free.
 */
bool StartWorker(const char *type, const char *name, const char *function, Oid dboid, Datum arg,
                 BackgroundWorkerHandle **handle);

} // namespace concord::supervisor

extern "C" {
PGDLLEXPORT void concord_supervisor_main(Datum arg);
PGDLLEXPORT void concord_manager_main(Datum arg);
PGDLLEXPORT void concord_apply_main(Datum arg);
}
