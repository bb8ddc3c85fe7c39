/*
 * apply_xact.hpp — the boundaries of an applied remote transaction.
 *
 * BEGIN starts the local transaction and SPI; each change runs with a fresh
 * snapshot; COMMIT finishes SPI and commits with the peer's commit end LSN
 * and timestamp recorded in the replication origin.  Between them
 * state->in_remote_xact is true.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "access/xlogdefs.h"
}

#include "common/protocol/wire.hpp"
#include "extension/shmem/shared_state.hpp"

namespace concord::apply {

void HandleBegin(protocol::Reader &r, shmem::PeerSlot *slot);

/* Commits; returns the local commit end and the remote end LSN for feedback. */
void HandleCommit(protocol::Reader &r, shmem::PeerSlot *slot, XLogRecPtr *local_end, XLogRecPtr *remote_end);

/* Applies one INSERT/UPDATE/DELETE/TRUNCATE of the current transaction. */
void HandleChange(protocol::MessageType type, protocol::Reader &r);

/* Aborts the local transaction of a half-applied remote one, if any. */
void AbandonRemoteTransaction();

/* Pushes the error context callback naming the peer, change and LSN. */
void InstallErrorContext();

} // namespace concord::apply
