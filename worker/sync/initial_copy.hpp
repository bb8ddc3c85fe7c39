/*
 * initial_copy.hpp — copying a peer's rows, consistently with a stream start.
 *
 * subscribe(copy_data => true) creates the slot on the peer with an exported
 * snapshot and copies every table the peer replicates under that snapshot:
 * rows committed before the slot's start are copied, later ones arrive
 * through the stream, none twice.  Rows stream through COPY into the local
 * tables (memory stays flat) inside the caller's transaction, so a failed
 * copy leaves nothing behind and can simply be retried.
 *
 * Copied rows keep their versions: the commit timestamp and origin node of
 * each row on the peer are copied into concord.row_version, and conflict
 * handling reads them for rows the copy wrote (origin "concord-copy:<node>"),
 * so a copied row meets later changes exactly as it would have on the peer.
 * The copy's own writes carry that origin, so they are never sent on.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "access/xlogdefs.h"
}

namespace concord::sync {

/*
 * Creates slot `slot` on the peer with an exported snapshot, copies all the
 * peer's replicated tables under it, and returns the slot's start.  Every
 * local table must exist and be empty.
 */
XLogRecPtr CreateSlotAndCopy(const char *dsn, const char *peer, const char *slot);

/*
 * Copies one table's current rows from the peer (a fresh snapshot there),
 * into the local table, which must be empty.  Returns the rows copied.
 */
uint64 CopyOneTable(const char *dsn, const char *peer, Oid local_relid);

/* Name of the replication origin the copy writes under. */
char *CopyOriginName(const char *node_name);

} // namespace concord::sync
