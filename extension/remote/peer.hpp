/*
 * peer.hpp — the steps of subscribing that happen on the peer.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "access/xlogdefs.h"
}

namespace concord::remote {

/*
 * Connects to the peer and checks that it is a concord node named
 * `peer_name` and not this very database.  Raises a clear error otherwise.
 */
void CheckPeerIdentity(const char *dsn, const char *peer_name);

/*
 * Creates the logical slot `slot` (output plugin concord) on the peer and
 * returns its consistent point.  Raises if the slot exists or the peer refuses.
 */
XLogRecPtr CreateRemoteSlot(const char *dsn, const char *slot, const char *peer_name);

} // namespace concord::remote
