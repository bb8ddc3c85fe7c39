/*
 * pending.hpp — work that must happen when the calling transaction ends.
 *
 * Configuration functions change the catalog transactionally, but some of
 * their effects live outside it: a slot on a peer, a wake-up of the workers,
 * the pause flag in shared memory.  This module runs those effects at commit
 * or abort, so nothing is left half-made: a slot created for a subscription
 * whose transaction aborts is dropped again; a slot of an unsubscribed peer
 * is dropped only once the unsubscribe is committed.
 *
 * Callbacks never raise: failures to reach a peer become WARNINGs naming the
 * slot an operator must drop by hand.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

namespace concord::sqlapi {

/* At commit: (re)start managers for this database and wake them. */
void WakeWorkersAtCommit();

/* At abort: drop the slot `slot` on the peer reachable through `dsn`. */
void DropRemoteSlotAtAbort(const char *dsn, const char *slot, const char *peer);

/*
 * Just before commit: drop this server's slot `slot` (may raise, aborting the
 * transaction).  A rolled-back drop_node() leaves its subscribers' slots be.
 */
void DropLocalSlotBeforeCommit(const char *slot);

/* At commit: drop the slot `slot` on the peer (best effort). */
void DropRemoteSlotAtCommit(const char *dsn, const char *slot, const char *peer);

/* At abort: restore a peer slot's pause and stop requests. */
void RestoreRequestsAtAbort(Oid dboid, Oid sub_id, bool paused, bool stopped);

/* At commit: restore a peer slot's pause and stop requests (a temporary pause ends). */
void RestoreRequestsAtCommit(Oid dboid, Oid sub_id, bool paused, bool stopped);

/*
 * When the transaction ends (commit or abort): stop replaying the session's
 * replication origin.  A copy keeps the origin until commit so the commit
 * record carries it.
 */
void ResetSessionOriginAtEnd();

/*
 * Drops a slot on a peer without raising; returns false (and logs a WARNING
 * telling the operator what to drop) if the peer could not be reached.
 */
bool DropRemoteSlotNow(const char *dsn, const char *slot, const char *peer);

} // namespace concord::sqlapi
