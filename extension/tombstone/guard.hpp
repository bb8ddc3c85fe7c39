/*
 * guard.hpp — the apply fast path's guard: was a row last written by the
 * peer a change comes from?  Then the change cannot conflict with it.
 *
 * The SQL function concord.written_through() (the guard of statements run
 * through SPI) and the apply worker's direct row path
 * (worker/apply/direct_apply.cpp) both answer with this one definition.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "datatype/timestamp.h"
#include "replication/origin.h"
}

namespace concord::tombstone {

enum class Writer {
	kPeer,        /* committed through the peer's replication origin */
	kInitialCopy, /* an initial copy into this node */
	kOther,       /* a local write, another peer, or unknown */
};

/* Who committed xid, by its commit timestamp record's origin. */
Writer LastWriter(TransactionId xid, RepOriginId origin, RepOriginId copy_origin);

/*
 * For a row an initial copy wrote: true if the version recorded for it
 * (concord.row_version, written by xid) names `peer` and is older than
 * commit_time.  Equal or newer means the copy already holds the change.
 */
bool CopyHoldsOlderVersion(Oid relid, bytea *key, TransactionId xid, const char *peer, TimestampTz commit_time);

/*
 * The guard: true if the row written by xid was last written through the
 * peer's origin, or copied from the peer before this change.  key() gives
 * the row's tombstone key; it is called only for copied rows.
 */
template <typename KeyFn>
bool WrittenThrough(TransactionId xid, RepOriginId origin, RepOriginId copy_origin, Oid relid, const char *peer,
                    TimestampTz commit_time, KeyFn key) {
	switch (LastWriter(xid, origin, copy_origin)) {
	case Writer::kPeer:
		return true;
	case Writer::kInitialCopy:
		return CopyHoldsOlderVersion(relid, key(), xid, peer, commit_time);
	case Writer::kOther:
		break;
	}
	return false;
}

} // namespace concord::tombstone
