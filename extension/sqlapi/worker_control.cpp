/*
 * worker_control.cpp — pause/stop requests to apply workers; see worker_control.hpp.
 */
#include "extension/sqlapi/worker_control.hpp"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
}

#include "extension/shmem/shared_state.hpp"
#include "extension/sqlapi/pending.hpp"

namespace concord::sqlapi {

using shmem::PeerSlot;
using shmem::state;

void StopWorker(Oid sub_id, const char *peer_name, Request request, int timeout_ms) {
	LWLockAcquire(&state->lock, LW_EXCLUSIVE);
	PeerSlot *p = shmem::ClaimPeer(MyDatabaseId, sub_id);
	if (p == nullptr) {
		LWLockRelease(&state->lock);
		ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED), errmsg("no free concord peer slot"),
		                errhint("Increase concord.max_peers.")));
	}
	bool was_paused = p->pause_requested;
	bool was_stopped = p->stop_requested;
	if (request == Request::kPause)
		p->pause_requested = true;
	else
		p->stop_requested = true;
	Latch *latch = p->worker_latch;
	if (latch != nullptr)
		SetLatch(latch);
	LWLockRelease(&state->lock);
	RestoreRequestsAtAbort(MyDatabaseId, sub_id, was_paused, was_stopped);

	TimestampTz deadline = GetCurrentTimestamp() + (TimestampTz)timeout_ms * 1000;
	ConditionVariablePrepareToSleep(&state->changed);
	for (;;) {
		LWLockAcquire(&state->lock, LW_SHARED);
		p = shmem::FindPeer(MyDatabaseId, sub_id);
		bool gone = p == nullptr || p->worker_pid == 0;
		LWLockRelease(&state->lock);
		if (gone)
			break;
		long remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0) {
			ConditionVariableCancelSleep();
			ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
			                errmsg("the apply worker for peer \"%s\" did not stop within %d ms", peer_name,
			                       timeout_ms)));
		}
		ConditionVariableTimedSleep(&state->changed, remaining < 100 ? remaining : 100, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

void ClearPause(Oid sub_id, bool was_enabled) {
	LWLockAcquire(&state->lock, LW_EXCLUSIVE);
	/*
	 * Claimed here if the manager has not made it yet: it sets the pause flag
	 * from the catalog only on a slot it creates, and its catalog snapshot
	 * may predate this resume.
	 */
	bool created;
	PeerSlot *p = shmem::ClaimPeer(MyDatabaseId, sub_id, &created);
	bool was_paused = false, was_stopped = false;
	if (p != nullptr) {
		was_paused = created ? !was_enabled : p->pause_requested;
		was_stopped = p->stop_requested;
		p->pause_requested = false;
		/* A resumed peer starts at once rather than after a pending back-off. */
		p->retry_at = 0;
		if (p->status == shmem::PeerStatus::kPaused)
			p->status = shmem::PeerStatus::kConnecting;
	}
	LWLockRelease(&state->lock);
	if (p != nullptr)
		RestoreRequestsAtAbort(MyDatabaseId, sub_id, was_paused, was_stopped);
}

} // namespace concord::sqlapi
