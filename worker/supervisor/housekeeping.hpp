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
 * Inside the manager's transaction: writes this node's clock into its WAL
 * for its subscribers (every 5 s; see protocol::ClockMessage), and every
 * concord.housekeeping_interval prunes conflict rows older than
 * concord.conflict_retention, and tombstones and recorded row versions every
 * peer has moved past.  (Replication origins are never dropped: see
 * subscribe().)
 */
void Housekeeping(List *subscriptions);

} // namespace concord::supervisor
