/*
 * supervisor.cpp — the static supervisor worker; see supervisor.hpp.
 */
#include "worker/supervisor/supervisor.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "extension/bridge/pg_guard.hpp"
#include "extension/shmem/shared_state.hpp"

namespace concord::supervisor {

using shmem::DbSlot;
using shmem::DbState;
using shmem::state;

namespace {

constexpr long kManagerRetryMs = 5000;

/* Handles of managers this supervisor started, parallel to state->databases. */
BackgroundWorkerHandle *manager_handles[shmem::kMaxDatabases];

/* Marks every connectable database as wanting a manager (startup). */
void WantAllDatabases() {
	StartTransactionCommand();
	(void)GetTransactionSnapshot();
	Relation rel = table_open(DatabaseRelationId, AccessShareLock);
	TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
	HeapTuple tuple;
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
		auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
		if (!db->datallowconn || db->datistemplate || database_is_invalid_form(db))
			continue;
		LWLockAcquire(&state->lock, LW_EXCLUSIVE);
		DbSlot *slot = shmem::ClaimDatabase(db->oid);
		if (slot != nullptr && slot->state != DbState::kRunning)
			slot->state = DbState::kWanted;
		LWLockRelease(&state->lock);
		if (slot == nullptr)
			ereport(WARNING, (errmsg("concord: more than %d databases; database %u is not watched",
			                         shmem::kMaxDatabases, db->oid)));
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}

/* Starts wanted managers and notices managers that stopped. */
void Reconcile() {
	TimestampTz now = GetCurrentTimestamp();
	for (int i = 0; i < shmem::kMaxDatabases; i++) {
		LWLockAcquire(&state->lock, LW_EXCLUSIVE);
		DbSlot *d = &state->databases[i];
		DbState st = d->state;
		Oid dboid = d->dboid;
		TimestampTz retry_at = d->retry_at;
		LWLockRelease(&state->lock);

		if (st == DbState::kRunning && manager_handles[i] != nullptr) {
			pid_t pid;
			if (GetBackgroundWorkerPid(manager_handles[i], &pid) == BGWH_STOPPED) {
				pfree(manager_handles[i]);
				manager_handles[i] = nullptr;
				LWLockAcquire(&state->lock, LW_EXCLUSIVE);
				/* A manager that found no node set kAbsent itself; anything else crashed. */
				if (d->state == DbState::kRunning) {
					d->state = DbState::kWanted;
					d->retry_at = now + kManagerRetryMs * 1000;
				}
				d->manager_pid = 0;
				d->manager_latch = nullptr;
				LWLockRelease(&state->lock);
			}
		} else if (st == DbState::kRunning && manager_handles[i] == nullptr) {
			/* Started by a previous supervisor incarnation; we cannot watch it, so ask again. */
			LWLockAcquire(&state->lock, LW_EXCLUSIVE);
			if (d->manager_pid == 0)
				d->state = DbState::kWanted;
			LWLockRelease(&state->lock);
		} else if (st == DbState::kWanted && retry_at <= now) {
			BackgroundWorkerHandle *handle;
			if (StartWorker("concord manager", "concord manager", "concord_manager_main", dboid,
			                ObjectIdGetDatum(dboid), &handle)) {
				manager_handles[i] = handle;
				LWLockAcquire(&state->lock, LW_EXCLUSIVE);
				d->state = DbState::kRunning;
				LWLockRelease(&state->lock);
			} else {
				LWLockAcquire(&state->lock, LW_EXCLUSIVE);
				d->retry_at = now + kManagerRetryMs * 1000;
				LWLockRelease(&state->lock);
			}
		}
	}
}

} // namespace

void RegisterSupervisor() {
	BackgroundWorker worker;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "concord", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "concord_supervisor_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "concord supervisor", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "concord supervisor", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

bool StartWorker(const char *type, const char *name, const char *function, Oid dboid, Datum arg,
                 BackgroundWorkerHandle **handle) {
	BackgroundWorker worker;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "concord", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	worker.bgw_main_arg = arg;
	memcpy(worker.bgw_extra, &dboid, sizeof(dboid));
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

} // namespace concord::supervisor

namespace concord::supervisor {
namespace {

void SupervisorMain() {
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);

	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	shmem::state->supervisor_pid = MyProcPid;
	shmem::state->supervisor_latch = MyLatch;
	/* A restarted supervisor lost its handles; managers it cannot see are re-requested. */
	for (int i = 0; i < shmem::kMaxDatabases; i++) {
		if (shmem::state->databases[i].state == shmem::DbState::kRunning &&
		    shmem::state->databases[i].manager_pid == 0)
			shmem::state->databases[i].state = shmem::DbState::kWanted;
	}
	LWLockRelease(&shmem::state->lock);

	supervisor::WantAllDatabases();
	for (;;) {
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		supervisor::Reconcile();
		(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

} // namespace
} // namespace concord::supervisor

void concord_supervisor_main(Datum) {
	concord::pg::Entry([] { concord::supervisor::SupervisorMain(); });
}
