/*
 * pending.cpp — commit/abort actions of configuration functions; see pending.hpp.
 */
#include "extension/sqlapi/pending.hpp"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

#include <libpq-fe.h>
#include <poll.h>

#include "extension/shmem/shared_state.hpp"
#include "extension/sqlapi/subscription_ops.hpp"

namespace concord::sqlapi {

namespace {

enum class When { kPreCommit, kCommit, kAbort, kEither };
enum class What { kWake, kDropSlot, kDropLocalSlot, kRestoreRequests, kResetOrigin };

struct Action {
	When when;
	What what;
	int nest_level;   /* subtransaction level that registered it */
	char *dsn;
	char *slot;
	char *peer;
	Oid dboid;
	Oid sub_id;
	bool paused;
	bool stopped;
};

List *actions = NIL; /* in TopMemoryContext */
bool callbacks_registered = false;

void RunAction(const Action *a) {
	switch (a->what) {
	case What::kWake: {
		if (shmem::state == nullptr)
			break;
		LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
		shmem::DbSlot *db = shmem::ClaimDatabase(a->dboid);
		if (db != nullptr && db->state != shmem::DbState::kRunning)
			db->state = shmem::DbState::kWanted;
		LWLockRelease(&shmem::state->lock);
		shmem::WakeSupervisor();
		shmem::WakeManager(a->dboid);
		break;
	}
	case What::kDropSlot:
		DropRemoteSlotNow(a->dsn, a->slot, a->peer);
		break;
	case What::kDropLocalSlot:
		DropLocalSlot(a->slot); /* before commit: may raise, which aborts the transaction */
		break;
	case What::kResetOrigin:
		if (replorigin_session_origin != InvalidRepOriginId) {
			replorigin_session_reset();
			replorigin_session_origin = InvalidRepOriginId;
			replorigin_session_origin_lsn = InvalidXLogRecPtr;
			replorigin_session_origin_timestamp = 0;
		}
		break;
	case What::kRestoreRequests: {
		if (shmem::state == nullptr)
			break;
		LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
		shmem::PeerSlot *p = shmem::FindPeer(a->dboid, a->sub_id);
		if (p != nullptr) {
			p->pause_requested = a->paused;
			p->stop_requested = a->stopped;
		}
		LWLockRelease(&shmem::state->lock);
		shmem::WakeManager(a->dboid);
		break;
	}
	}
}

void FreeAction(Action *a) {
	if (a->dsn)
		pfree(a->dsn);
	if (a->slot)
		pfree(a->slot);
	if (a->peer)
		pfree(a->peer);
	pfree(a);
}

/* Removes from `actions` and returns those that `take` selects. */
template <typename Take>
List *TakeActions(Take &&take) {
	List *keep = NIL;
	List *taken = NIL;
	ListCell *lc;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	foreach (lc, actions) {
		auto *a = static_cast<Action *>(lfirst(lc));
		if (take(a))
			taken = lappend(taken, a);
		else
			keep = lappend(keep, a);
	}
	list_free(actions);
	actions = keep;
	MemoryContextSwitchTo(old);
	return taken;
}

/* Runs (or discards) the actions registered at nest level >= level. */
void Finish(bool committed, int level) {
	List *run = TakeActions([level](const Action *a) { return a->nest_level >= level; });
	ListCell *lc;
	foreach (lc, run) {
		auto *a = static_cast<Action *>(lfirst(lc));
		/* Pre-commit actions still listed here belong to an aborted (sub)transaction. */
		if (a->when == When::kEither || (a->when == When::kCommit && committed) || (a->when == When::kAbort && !committed))
			RunAction(a);
		FreeAction(a);
	}
	list_free(run);
}

/* Runs (and forgets) the actions that must happen before the commit record. */
void RunPreCommit() {
	List *run = TakeActions([](const Action *a) { return a->when == When::kPreCommit; });
	ListCell *lc;
	foreach (lc, run) {
		auto *a = static_cast<Action *>(lfirst(lc));
		RunAction(a);
		FreeAction(a);
	}
	list_free(run);
}

void OnXact(XactEvent event, void *) {
	switch (event) {
	case XACT_EVENT_PRE_COMMIT:
	case XACT_EVENT_PARALLEL_PRE_COMMIT:
		RunPreCommit();
		break;
	case XACT_EVENT_COMMIT:
	case XACT_EVENT_PARALLEL_COMMIT:
		Finish(true, 0);
		break;
	case XACT_EVENT_ABORT:
	case XACT_EVENT_PARALLEL_ABORT:
		Finish(false, 0);
		break;
	default:
		break;
	}
}

void OnSubXact(SubXactEvent event, SubTransactionId, SubTransactionId, void *) {
	int level = GetCurrentTransactionNestLevel();
	ListCell *lc;
	if (event == SUBXACT_EVENT_ABORT_SUB) {
		/* Abort actions of the subtransaction run now; its commit actions are void. */
		Finish(false, level);
	} else if (event == SUBXACT_EVENT_COMMIT_SUB) {
		foreach (lc, actions) {
			auto *a = static_cast<Action *>(lfirst(lc));
			if (a->nest_level >= level)
				a->nest_level = level - 1;
		}
	}
}

void Register(When when, What what, const char *dsn, const char *slot, const char *peer, Oid dboid, Oid sub_id,
              bool paused = false, bool stopped = false) {
	if (!callbacks_registered) {
		RegisterXactCallback(OnXact, nullptr);
		RegisterSubXactCallback(OnSubXact, nullptr);
		callbacks_registered = true;
	}
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	auto *a = static_cast<Action *>(palloc0(sizeof(Action)));
	a->when = when;
	a->what = what;
	a->nest_level = GetCurrentTransactionNestLevel();
	a->dsn = dsn ? pstrdup(dsn) : nullptr;
	a->slot = slot ? pstrdup(slot) : nullptr;
	a->peer = peer ? pstrdup(peer) : nullptr;
	a->dboid = dboid;
	a->sub_id = sub_id;
	a->paused = paused;
	a->stopped = stopped;
	actions = lappend(actions, a);
	MemoryContextSwitchTo(old);
}

/* Trims libpq's trailing newline. */
void TrimMessage(char *msg) {
	size_t len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
}

} // namespace

void WakeWorkersAtCommit() {
	Register(When::kCommit, What::kWake, nullptr, nullptr, nullptr, MyDatabaseId, InvalidOid);
}

void DropRemoteSlotAtAbort(const char *dsn, const char *slot, const char *peer) {
	Register(When::kAbort, What::kDropSlot, dsn, slot, peer, InvalidOid, InvalidOid);
}

void DropRemoteSlotAtCommit(const char *dsn, const char *slot, const char *peer) {
	Register(When::kCommit, What::kDropSlot, dsn, slot, peer, InvalidOid, InvalidOid);
}

void DropLocalSlotBeforeCommit(const char *slot) {
	Register(When::kPreCommit, What::kDropLocalSlot, nullptr, slot, nullptr, InvalidOid, InvalidOid);
}

void ResetSessionOriginAtEnd() {
	Register(When::kEither, What::kResetOrigin, nullptr, nullptr, nullptr, InvalidOid, InvalidOid);
}

void RestoreRequestsAtCommit(Oid dboid, Oid sub_id, bool paused, bool stopped) {
	Register(When::kCommit, What::kRestoreRequests, nullptr, nullptr, nullptr, dboid, sub_id, paused, stopped);
}

void RestoreRequestsAtAbort(Oid dboid, Oid sub_id, bool paused, bool stopped) {
	Register(When::kAbort, What::kRestoreRequests, nullptr, nullptr, nullptr, dboid, sub_id, paused, stopped);
}

namespace {

/* How long one slot-drop statement may take on the peer before it is cancelled. */
constexpr int kDropStatementTimeoutMs = 15000;

/*
 * PQexecParams with a deadline, for commit and abort callbacks (no error may
 * be raised there, and interrupts are held, so a plain blocking call on a
 * peer that accepted the connection and then froze would hang the session for
 * good).  Returns the result, or nullptr after cancelling the statement
 * (detail says why).
 */
PGresult *ExecWithin(PGconn *conn, const char *sql, int nparams, const char *const *params, int timeout_ms,
                     char *detail, size_t detail_size) {
	if (PQsendQueryParams(conn, sql, nparams, nullptr, params, nullptr, nullptr, 0) == 0) {
		strlcpy(detail, PQerrorMessage(conn), detail_size);
		return nullptr;
	}
	TimestampTz deadline = GetCurrentTimestamp() + static_cast<int64>(timeout_ms) * 1000;
	for (;;) {
		if (PQconsumeInput(conn) == 0) {
			strlcpy(detail, PQerrorMessage(conn), detail_size);
			return nullptr;
		}
		if (!PQisBusy(conn))
			break;
		long remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0) {
			PGcancel *cancel = PQgetCancel(conn);
			char ignored[256];
			if (cancel != nullptr) {
				(void)PQcancel(cancel, ignored, sizeof(ignored));
				PQfreeCancel(cancel);
			}
			snprintf(detail, detail_size, "the peer did not answer within %d ms", timeout_ms);
			return nullptr;
		}
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
		(void)poll(&pfd, 1, static_cast<int>(Min(remaining, 1000L)));
	}
	PGresult *res = PQgetResult(conn);
	/* Drain: one statement, one result. */
	for (PGresult *extra = PQgetResult(conn); extra != nullptr; extra = PQgetResult(conn))
		PQclear(extra);
	return res;
}

} // namespace

bool DropRemoteSlotNow(const char *dsn, const char *slot, const char *peer) {
	/*
	 * Runs in commit/abort callbacks, so it must not raise: libpq bounded by
	 * connect_timeout, a deadline per statement, and a bounded number of
	 * retries while the peer's walsender still holds the slot.
	 */
	const char *keys[] = {"dbname", "connect_timeout", "fallback_application_name", nullptr};
	const char *vals[] = {dsn, "5", "concord", nullptr};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	bool dropped = false;
	char detail[512] = "";
	if (conn != nullptr && PQstatus(conn) == CONNECTION_OK) {
		const char *params[1] = {slot};
		for (int attempt = 0; attempt < 40 && !dropped; attempt++) {
			PGresult *res = ExecWithin(conn,
			                           "SELECT pg_catalog.pg_drop_replication_slot(slot_name) "
			                           "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
			                           1, params, kDropStatementTimeoutMs, detail, sizeof(detail));
			if (res == nullptr)
				break;
			if (PQresultStatus(res) == PGRES_TUPLES_OK) {
				dropped = true;
			} else {
				strlcpy(detail, PQresultErrorMessage(res), sizeof(detail));
				const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
				bool in_use = state != nullptr && strcmp(state, "55006") == 0; /* object_in_use */
				if (!in_use)
					attempt = 40;
				else
					pg_usleep(250 * 1000L);
			}
			PQclear(res);
		}
	} else if (conn != nullptr) {
		strlcpy(detail, PQerrorMessage(conn), sizeof(detail));
	}
	if (conn != nullptr)
		PQfinish(conn);
	if (!dropped) {
		TrimMessage(detail);
		ereport(WARNING, (errmsg("could not drop replication slot \"%s\" on peer \"%s\"", slot, peer),
		                  errdetail("%s", detail),
		                  errhint("Drop it on the peer with SELECT pg_drop_replication_slot('%s'); "
		                          "until then the peer keeps WAL for it.",
		                          slot)));
	}
	return dropped;
}

} // namespace concord::sqlapi
