/*
 * settings.hpp — concord's configuration parameters (concord.*).
 */
#pragma once

namespace concord::settings {

/* Peer slots in shared memory: subscriptions across all databases (postmaster). */
extern int max_peers;
/* First retry delay after an apply failure, doubled per consecutive failure (ms). */
extern int retry_delay_min_ms;
/* Cap of the retry delay (ms): a fixed problem is picked up within this time. */
extern int retry_delay_max_ms;
/* Reconnect when a peer sends nothing for this long (ms; 0 = never). */
extern int peer_timeout_ms;
/* Interval between progress reports to the peer while streaming (ms). */
extern int feedback_interval_ms;
/* Keep conflict rows this long; older ones are pruned by the manager (s; 0 = keep). */
extern int conflict_retention_s;

/* Extra age a tombstone must reach beyond every peer's safe time before pruning (s). */
extern int tombstone_min_age_s;
extern int housekeeping_interval_s;

/* Defines every parameter; called from _PG_init. */
void Define();

} // namespace concord::settings
