/*
 * worker_control.hpp — asking an apply worker to stop, and waiting until it has.
 *
 * SQL functions never start or kill workers; they set a request in shared
 * memory, wake the worker, and wait (bounded) until it acknowledges by
 * exiting.  The worker abandons any half-applied remote transaction, which is
 * safe: its replication origin did not advance, so that transaction is
 * streamed again later.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

namespace concord::sqlapi {

enum class Request { kPause, kStop };

/*
 * Sets the request for (MyDatabaseId, sub_id) and waits up to timeout_ms for
 * the worker to be gone.  Registers an abort action restoring the previous
 * requests.  Raises if the worker does not stop in time.
 */
void StopWorker(Oid sub_id, const char *peer_name, Request request, int timeout_ms = 30000);

/*
 * Clears the pause request (resume); the manager restarts the worker at
 * commit.  was_enabled: the catalog's value before this resume (what an
 * abort restores).
 */
void ClearPause(Oid sub_id, bool was_enabled);

} // namespace concord::sqlapi
