/*
 * manager.cpp — the per-database manager worker; see supervisor.hpp.
 *
 * Invariants:
 *   - one apply worker per subscription that is enabled and not paused or
 *     stopping; a worker that failed is restarted no earlier than the
 *     retry_at it recorded (back-off capped by concord.retry_delay_max);
 *   - a subscription disabled in the catalog (pause survives restarts) stays
 *     paused in shared memory;
 *   - shared-memory slots of removed subscriptions are released once no
 *     worker uses them (replication origins are kept: see subscribe()).
 */
#include "worker/supervisor/supervisor.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/settings.hpp"
#include "extension/shmem/shared_state.hpp"
#include "worker/supervisor/housekeeping.hpp"

namespace concord::supervisor {

using shmem::PeerSlot;
using shmem::state;

namespace {

Oid manager_dboid = InvalidOid;
BackgroundWorkerHandle **worker_handles = nullptr; /* parallel to state->peers */

void ManagerExit(int, Datum) {
	LWLockAcquire(&state->lock, LW_EXCLUSIVE);
	for (int i = 0; i < shmem::kMaxDatabases; i++) {
		shmem::DbSlot *d = &state->databases[i];
		if (d->state != shmem::DbState::kUnused && d->dboid == manager_dboid && d->manager_pid == MyProcPid) {
			d->manager_pid = 0;
			d->manager_latch = nullptr;
		}
	}
	LWLockRelease(&state->lock);
	shmem::WakeSupervisor();
}

void RegisterManager() {
	LWLockAcquire(&state->lock, LW_EXCLUSIVE);
	shmem::DbSlot *d = shmem::ClaimDatabase(manager_dboid);
	if (d != nullptr) {
		d->manager_pid = MyProcPid;
		d->manager_latch = MyLatch;
		d->state = shmem::DbState::kRunning;
	}
	LWLockRelease(&state->lock);
	before_shmem_exit(ManagerExit, (Datum)0);
}

/* Nothing to manage here: say so and exit; the supervisor will not restart us. */
[[noreturn]] void ExitAbsent() {
	LWLockAcquire(&state->lock, LW_EXCLUSIVE);
	shmem::DbSlot *d = shmem::ClaimDatabase(manager_dboid);
	if (d != nullptr)
		d->state = shmem::DbState::kAbsent;
	LWLockRelease(&state->lock);
	proc_exit(0);
}

bool WorkerRunning(int slot_index) {
	BackgroundWorkerHandle *h = worker_handles[slot_index];
	if (h == nullptr)
		return false;
	pid_t pid;
	if (GetBackgroundWorkerPid(h, &pid) == BGWH_STOPPED) {
		pfree(h);
		worker_handles[slot_index] = nullptr;
		return false;
	}
	return true;
}

void StartApplyWorker(int slot_index, const catalog::SubscriptionInfo *sub) {
	char name[BGW_MAXLEN];
	snprintf(name, sizeof(name), "concord apply from %s", sub->peer_name);
	BackgroundWorkerHandle *handle;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	bool started = StartWorker("concord apply", name, "concord_apply_main", manager_dboid,
	                           ObjectIdGetDatum(sub->sub_id), &handle);
	MemoryContextSwitchTo(old);
	LWLockAcquire(&state->lock, LW_EXCLUSIVE);
	PeerSlot *p = &state->peers[slot_index];
	if (started) {
		worker_handles[slot_index] = handle;
		if (p->status != shmem::PeerStatus::kError)
			p->status = shmem::PeerStatus::kConnecting;
	} else {
		/* No free background worker slot: try again shortly. */
		p->retry_at = GetCurrentTimestamp() + 1000 * 1000;
	}
	LWLockRelease(&state->lock);
	if (!started)
		ereport(WARNING, (errmsg("concord: no free background worker slot for the apply worker of peer \"%s\"",
		                         sub->peer_name),
		                  errhint("Increase max_worker_processes.")));
}

/*
 * Starts missing workers; returns how long until the next scheduled retry
 * (ms), or -1 if none is pending.
 */
long ReconcileWorkers(List *subs, TimestampTz snapshot_taken_after) {
	TimestampTz now = GetCurrentTimestamp();
	long next_retry = -1;
	ListCell *lc;
	foreach (lc, subs) {
		auto *sub = static_cast<catalog::SubscriptionInfo *>(lfirst(lc));
		LWLockAcquire(&state->lock, LW_EXCLUSIVE);
		bool created;
		PeerSlot *p = shmem::ClaimPeer(manager_dboid, sub->sub_id, &created);
		if (p == nullptr) {
			LWLockRelease(&state->lock);
			ereport(WARNING, (errmsg("concord: no free peer slot for peer \"%s\"", sub->peer_name),
			                  errhint("Increase concord.max_peers.")));
			continue;
		}
		int index = static_cast<int>(p - state->peers);
		/*
		 * The catalog says whether a subscription is paused when its slot is
		 * new (server start, new subscription).  Afterwards pause() and
		 * resume() keep the flag, effective at once, while the catalog may
		 * still hold the other value until their transaction commits; they
		 * claim the slot themselves if it does not exist yet, so a catalog
		 * snapshot older than them never decides it.
		 */
		if (created && !sub->enabled)
			p->pause_requested = true;
		bool wanted = !p->pause_requested && !p->stop_requested;
		TimestampTz retry_at = p->retry_at;
		if (!wanted && p->worker_pid == 0 && p->pause_requested)
			p->status = shmem::PeerStatus::kPaused;
		LWLockRelease(&state->lock);

		if (!wanted || WorkerRunning(index))
			continue;
		if (retry_at > now) {
			long wait = TimestampDifferenceMilliseconds(now, retry_at);
			if (next_retry < 0 || wait < next_retry)
				next_retry = wait;
			continue;
		}
		StartApplyWorker(index, sub);
	}

	/* Release slots of subscriptions that no longer exist. */
	LWLockAcquire(&state->lock, LW_EXCLUSIVE);
	for (int i = 0; i < state->max_peers; i++) {
		PeerSlot *p = &state->peers[i];
		if (!p->in_use || p->dboid != manager_dboid || p->worker_pid != 0 || worker_handles[i] != nullptr ||
		    p->claimed_at >= snapshot_taken_after)
			continue;
		bool listed = false;
		foreach (lc, subs) {
			if (static_cast<catalog::SubscriptionInfo *>(lfirst(lc))->sub_id == p->sub_id)
				listed = true;
		}
		if (!listed)
			p->in_use = false;
	}
	LWLockRelease(&state->lock);
	return next_retry;
}

} // namespace

} // namespace concord::supervisor

namespace concord::supervisor {
namespace {

void ManagerMain(Datum arg) {
	manager_dboid = DatumGetObjectId(arg);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(manager_dboid, InvalidOid, 0);
	RegisterManager();
	worker_handles = static_cast<BackgroundWorkerHandle **>(
	    MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) * state->max_peers));
	MemoryContext loop_context = AllocSetContextCreate(TopMemoryContext, "concord manager loop", ALLOCSET_DEFAULT_SIZES);

	for (;;) {
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loop_context);

		TimestampTz round_start = GetCurrentTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "reading concord configuration");
		catalog::NodeInfo node;
		bool configured = catalog::ExtensionInstalled() && catalog::LoadLocalNode(&node);
		List *subs = NIL;
		if (configured) {
			MemoryContext old = MemoryContextSwitchTo(loop_context);
			subs = catalog::LoadSubscriptions();
			MemoryContextSwitchTo(old);
			Housekeeping(subs);
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, nullptr);
		if (!configured)
			ExitAbsent();

		long next_retry = ReconcileWorkers(subs, round_start);
		/* At least every 10 s, and as often as housekeeping is due when that is shorter. */
		long timeout = Min(10000L, static_cast<long>(settings::housekeeping_interval_s) * 1000L);
		if (next_retry >= 0 && next_retry < timeout)
			timeout = Max(next_retry, 1);
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

} // namespace
} // namespace concord::supervisor

void concord_manager_main(Datum arg) {
	concord::pg::Entry([&] { concord::supervisor::ManagerMain(arg); });
}
