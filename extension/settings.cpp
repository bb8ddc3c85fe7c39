/*
 * settings.cpp — definitions of the concord.* parameters.
 */
#include "extension/settings.hpp"

#include <climits>

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
}

namespace concord::settings {

int max_peers = 32;
int retry_delay_min_ms = 500;
int retry_delay_max_ms = 10000;
int peer_timeout_ms = 60000;
int feedback_interval_ms = 1000;
int conflict_retention_s = 30 * 24 * 3600;
int tombstone_min_age_s = 300;
int housekeeping_interval_s = 60;

void Define() {
	/* A postmaster-level setting can only be defined while preloading (else FATAL). */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("concord.max_peers", "Maximum number of subscriptions (all databases together).",
		                        "Sets the number of apply status slots in shared memory.", &max_peers, 32, 1, 1024,
		                        PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("concord.retry_delay_min", "First delay before retrying a failed apply.",
	                        "Doubles with each consecutive failure up to concord.retry_delay_max.",
	                        &retry_delay_min_ms, 500, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
	                        nullptr);
	DefineCustomIntVariable("concord.retry_delay_max", "Longest delay before retrying a failed apply.", nullptr,
	                        &retry_delay_max_ms, 10000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
	                        nullptr);
	DefineCustomIntVariable("concord.peer_timeout", "Reconnect to a peer that sent nothing for this long.",
	                        "The peer's keepalives count; 0 disables the check.", &peer_timeout_ms, 60000, 0,
	                        24 * 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("concord.feedback_interval", "How often an apply worker reports its progress.", nullptr,
	                        &feedback_interval_ms, 1000, 10, 60 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
	                        nullptr);
	DefineCustomIntVariable("concord.conflict_retention", "How long rows stay in concord.conflicts.",
	                        "Older rows are pruned in the background; 0 keeps them forever.", &conflict_retention_s,
	                        30 * 24 * 3600, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("concord.tombstone_min_age", "Safety margin before a tombstone is pruned.",
	                        "A tombstone is pruned once every peer has applied all its changes committed this long "
	                        "after the delete.",
	                        &tombstone_min_age_s, 300, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("concord.housekeeping_interval",
	                        "How often each database's manager prunes conflicts, tombstones and recorded versions.",
	                        "The manager also looks at least every 10 s.",
	                        &housekeeping_interval_s, 60, 1, 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr,
	                        nullptr);
	MarkGUCPrefixReserved("concord");
}

} // namespace concord::settings
