/*
 * housekeeping.hpp — periodic cleanup done by a database's manager.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "nodes/pg_list.h"
}

namespace concord::supervisor {

/*
 * Inside the manager's transaction: drops replication origins no
 * subscription uses, prunes conflict rows older than concord.conflict_retention
 * and tombstones every peer has moved past.  Runs its heavier parts at most
 * once a minute.
 */
void Housekeeping(const char *node_name, List *subscriptions);

} // namespace concord::supervisor
