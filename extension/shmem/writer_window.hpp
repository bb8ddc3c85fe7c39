/*
 * writer_window.hpp — each peer's window of the transactions its apply
 * worker committed (common/apply/xid_window.hpp), in shared memory.
 *
 * The apply guard (extension/tombstone/guard.hpp) asks whether a row was last
 * written through the peer's origin.  The window answers "yes" for rows the
 * worker wrote within the last XidWindowState::kBits transactions without
 * reading the commit-timestamp records; anything else is asked of those
 * records as before.  One window per peer slot (concord.max_peers of them,
 * 256 KiB each); it survives worker restarts, not server restarts.
 *
 * Only the apply worker that owns the peer slot uses its window, so no lock
 * is taken: the slot's ownership (shared_state.hpp) serialises its users.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "replication/origin.h"
}

namespace concord::shmem {

/* Shared memory for the windows; called from the shared-state hooks. */
Size WriterWindowsSize();
void StartupWriterWindows();

/*
 * The apply worker of peer slot `slot_index` (database dboid, replication
 * origin `origin`) takes its window; a window left by another subscription is
 * reset.  Until then, and in every other process, nothing is known.
 */
void AttachWriterWindow(int slot_index, Oid dboid, RepOriginId origin);

/* Before applying a transaction: the window reaches the newest assigned xid (see xid_window.hpp). */
void AdvanceWriterWindow();

/*
 * Around the commit of an applied transaction: remember its xid and its
 * committed subtransactions' before CommitTransactionCommand(), record them
 * once it has returned.  A failed commit leaves nothing recorded.
 */
void RememberCommittingXids();
void RecordRememberedXids();

/* True only if xid was committed by this process's apply worker through `origin`. */
bool KnownWrittenThrough(TransactionId xid, RepOriginId origin);

} // namespace concord::shmem
