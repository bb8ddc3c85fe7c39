/*
 * peer_wait.hpp — waiting until the nodes that pull from this one have
 * applied what it committed (wait_for_peers, and leave_mesh before the
 * members let go of the leaving node).
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
}

namespace concord::sqlapi {

/* An interval as milliseconds (a month counting 30 days). */
int64 IntervalMs(const Interval *interval);

/* How many subscribers (of `peers`, a List of node names, or all when NIL) pull from node `node_name`. */
int CountSubscribers(const char *node_name, List *peers);

/*
 * Writes a marker after everything this node committed so far and waits
 * until every slot through which a subscriber (of `peers`, or any) pulls
 * from node `node_name` has confirmed it, at most timeout_ms.  True once
 * they have (or if there are none); false on timeout.  Interruptible.
 */
bool WaitForSubscribers(const char *node_name, List *peers, int64 timeout_ms);

} // namespace concord::sqlapi
