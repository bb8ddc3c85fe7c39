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
 * Inside the manager's transaction: prunes conflict rows older than
 * concord.conflict_retention, and tombstones and recorded row versions every
 * peer has moved past.  At most once a minute.  (Replication origins are
 * never dropped: see subscribe().)
 */
void Housekeeping(List *subscriptions);

} // namespace concord::supervisor
