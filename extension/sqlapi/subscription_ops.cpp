/*
 * subscription_ops.cpp — removing a subscription and dropping local slots.
 */
#include "extension/sqlapi/subscription_ops.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "replication/slot.h"
#include "storage/latch.h"
}

#include <csignal>

#include "extension/sqlapi/pending.hpp"
#include "extension/sqlapi/worker_control.hpp"

namespace concord::sqlapi {

void RemoveSubscription(const catalog::SubscriptionInfo *sub) {
	StopWorker(sub->sub_id, sub->peer_name, Request::kStop);

	Oid types[1] = {OIDOID};
	Datum values[1] = {ObjectIdGetDatum(sub->sub_id)};
	catalog::Write("DELETE FROM concord.subscription WHERE sub_id = $1", 1, types, values, nullptr, SPI_OK_DELETE);
	/*
	 * The replication origin stays (see subscribe()): rows written through it
	 * keep naming this peer, and a later subscription to it reuses it.
	 */
	DropRemoteSlotAtCommit(sub->peer_dsn, sub->link_name, sub->peer_name);
	WakeWorkersAtCommit();
}

void DropLocalSlot(const char *slot) {
	for (int attempt = 0; attempt < 100; attempt++) {
		bool exists = false;
		pid_t active = 0;
		LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
		for (int i = 0; i < max_replication_slots; i++) {
			ReplicationSlot *s = &ReplicationSlotCtl->replication_slots[i];
			if (s->in_use && strcmp(NameStr(s->data.name), slot) == 0) {
				exists = true;
				SpinLockAcquire(&s->mutex);
				active = s->active_pid;
				SpinLockRelease(&s->mutex);
				break;
			}
		}
		LWLockRelease(ReplicationSlotControlLock);
		if (!exists)
			return;
		if (active == 0) {
			ReplicationSlotDrop(slot, true);
			return;
		}
		/* The walsender streaming from it belongs to a subscriber; end it. */
		kill(active, SIGTERM);
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE), errmsg("replication slot \"%s\" stays in use", slot),
	                errhint("A subscriber keeps reconnecting to it; unsubscribe it there first.")));
}

} // namespace concord::sqlapi
