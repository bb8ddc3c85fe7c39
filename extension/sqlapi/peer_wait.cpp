/*
 * peer_wait.cpp — see peer_wait.hpp.
 */
#include "extension/sqlapi/peer_wait.hpp"

extern "C" {
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
}

#include "common/naming/names.hpp"
#include "extension/bridge/pg_guard.hpp"

namespace concord::sqlapi {

namespace {

/* True if slot `name` feeds one of `peers` (all subscribers when peers is NIL). */
bool SlotFeedsPeer(const char *name, const char *prefix, List *peers) {
	size_t prefix_len = strlen(prefix);
	if (strncmp(name, prefix, prefix_len) != 0)
		return false;
	if (peers == NIL)
		return true;
	ListCell *lc;
	foreach (lc, peers)
		if (strcmp(name + prefix_len, static_cast<const char *>(lfirst(lc))) == 0)
			return true;
	return false;
}

/*
 * True when every slot through which a subscriber (of `peers`, or any) pulls
 * from this node has confirmed `target`.  *found counts such slots.
 */
bool SubscribersConfirmed(const char *prefix, List *peers, XLogRecPtr target, int *found) {
	bool all = true;
	*found = 0;
	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (int i = 0; i < max_replication_slots; i++) {
		ReplicationSlot *s = &ReplicationSlotCtl->replication_slots[i];
		if (!s->in_use || s->data.database != MyDatabaseId || !SlotFeedsPeer(NameStr(s->data.name), prefix, peers))
			continue;
		(*found)++;
		SpinLockAcquire(&s->mutex);
		XLogRecPtr confirmed = s->data.confirmed_flush;
		SpinLockRelease(&s->mutex);
		if (confirmed < target)
			all = false;
	}
	LWLockRelease(ReplicationSlotControlLock);
	return all;
}

char *PrefixOf(const char *node_name) {
	return pg::ToPalloc([&] { return naming::ProviderSlotPrefix(node_name); });
}

} // namespace

int64 IntervalMs(const Interval *interval) {
	return interval->time / 1000 + static_cast<int64>(interval->day) * 86400000LL +
	       static_cast<int64>(interval->month) * 30LL * 86400000LL;
}

int CountSubscribers(const char *node_name, List *peers) {
	int found;
	SubscribersConfirmed(PrefixOf(node_name), peers, InvalidXLogRecPtr, &found);
	return found;
}

bool WaitForSubscribers(const char *node_name, List *peers, int64 timeout_ms) {
	char *prefix = PrefixOf(node_name);
	int found;
	SubscribersConfirmed(prefix, peers, InvalidXLogRecPtr, &found);
	if (found == 0)
		return true;
	/*
	 * A marker record ends everything committed before this call; once each
	 * subscriber's slot confirms its end, they have applied all of it.  The
	 * record also wakes walsenders that are idle.
	 */
	XLogRecPtr target = LogLogicalMessage("concord", "", 0, false);
	XLogFlush(target);
	TimestampTz deadline = GetCurrentTimestamp() + timeout_ms * 1000;
	for (;;) {
		if (SubscribersConfirmed(prefix, peers, target, &found))
			return true;
		long remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0)
			return false;
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, remaining < 20 ? remaining : 20,
		                PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

} // namespace concord::sqlapi
