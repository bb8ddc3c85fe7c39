/*
 * apply_main.cpp — the apply worker: stream from one peer, apply, report.
 *
 * Invariants (see docs/architecture.md):
 *   - a remote transaction is applied in one local transaction, committed
 *     with the peer's commit LSN and timestamp through the replication
 *     origin, so progress and data commit atomically;
 *   - after any failure the worker exits; the local transaction aborts, the
 *     origin did not move, and the restarted worker streams the same remote
 *     transaction again — nothing is skipped unless the operator says so;
 *   - the peer is told only positions whose local commit is flushed;
 *   - changes are applied as they arrive, so memory does not grow with the
 *     size of a remote transaction;
 *   - the process never blocks in libpq: every wait is on the latch and the
 *     socket, so SIGTERM, SIGHUP, pause and stop are seen promptly.
 */
#include "worker/supervisor/supervisor.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "extension/bridge/pg_compat.hpp"
#include "common/apply/backoff.hpp"
#include "common/apply/flush_tracker.hpp"
#include "common/conninfo/conninfo.hpp"
#include "common/protocol/stream_frame.hpp"
#include "common/protocol/wire.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/catalog/catalog.hpp"
#include "extension/settings.hpp"
#include "extension/shmem/shared_state.hpp"
#include "extension/shmem/writer_window.hpp"
#include "worker/apply/apply_change.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/apply_xact.hpp"
#include "worker/apply/insert_batch.hpp"
#include "worker/apply/relation_map.hpp"
#include "worker/apply/tuple_values.hpp"
#include "worker/stream/stream_client.hpp"

namespace concord::apply {

ApplyState *state = nullptr;

namespace {

shmem::PeerSlot *my_slot = nullptr;
/* Fixed-size and trivially destructible: safe to keep across longjmps. */
FlushTracker *flush_tracker = nullptr;
stream::StreamConnection connection;

XLogRecPtr last_received = InvalidXLogRecPtr;
TimestampTz last_feedback_at = 0;
TimestampTz last_heard_at = 0;
XLogRecPtr last_reported_flush = InvalidXLogRecPtr;

void WorkerExit(int, Datum) {
	if (my_slot == nullptr)
		return;
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	if (my_slot->worker_pid == MyProcPid) {
		my_slot->worker_pid = 0;
		my_slot->worker_latch = nullptr;
		if (my_slot->status == shmem::PeerStatus::kStreaming || my_slot->status == shmem::PeerStatus::kConnecting)
			my_slot->status = my_slot->pause_requested ? shmem::PeerStatus::kPaused : shmem::PeerStatus::kStopped;
	}
	LWLockRelease(&shmem::state->lock);
	ConditionVariableBroadcast(&shmem::state->changed);
}

/* Claims our shared-memory slot; exits quietly if we should not run. */
void AttachSlot(Oid dboid) {
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	my_slot = shmem::FindPeer(dboid, state->sub_id);
	bool ok = my_slot != nullptr && my_slot->worker_pid == 0 && !my_slot->pause_requested &&
	          !my_slot->stop_requested;
	if (ok) {
		my_slot->worker_pid = MyProcPid;
		my_slot->worker_latch = MyLatch;
		if (my_slot->status != shmem::PeerStatus::kError)
			my_slot->status = shmem::PeerStatus::kConnecting;
	}
	LWLockRelease(&shmem::state->lock);
	if (!ok) {
		my_slot = nullptr;
		proc_exit(0);
	}
	before_shmem_exit(WorkerExit, (Datum)0);
}

void LoadIdentity() {
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	catalog::NodeInfo node;
	catalog::SubscriptionInfo sub;
	bool ok = catalog::LoadLocalNode(&node) && catalog::LoadSubscriptionById(state->sub_id, &sub);
	if (ok) {
		MemoryContext old = MemoryContextSwitchTo(state->cache_context);
		state->node_name = pstrdup(node.node_name);
		state->peer_name = pstrdup(sub.peer_name);
		state->peer_dsn = pstrdup(sub.peer_dsn);
		state->link_name = pstrdup(sub.link_name);
		state->peer_name_text = CStringGetTextDatum(sub.peer_name);
		MemoryContextSwitchTo(old);
		state->origin = replorigin_by_name(state->link_name, false);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (!ok)
		proc_exit(0); /* the subscription is gone */
}

/* True if the operator asked us to pause or stop. */
bool OperatorWantsUsGone() {
	/* Plain reads of flags set under the lock; a stale read only delays us one round. */
	return my_slot->pause_requested || my_slot->stop_requested;
}

[[noreturn]] void LeaveQuietly() {
	AbandonRemoteTransaction();
	stream::Close(&connection);
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	if (my_slot->pause_requested)
		my_slot->status = shmem::PeerStatus::kPaused;
	LWLockRelease(&shmem::state->lock);
	proc_exit(0);
}

void SendFeedback(bool force, bool reply_requested) {
	TimestampTz now = GetCurrentTimestamp();
	if (!force && !TimestampDifferenceExceeds(last_feedback_at, now, settings::feedback_interval_ms))
		return;
	XLogRecPtr flushed = flush_tracker->Durable(GetFlushRecPtr(nullptr));
	if (!state->in_remote_xact && flush_tracker->AllDurable()) {
		/* Nothing of ours is in flight: everything received is settled. */
		flush_tracker->AdvanceIdle(last_received);
		flushed = flush_tracker->Durable(GetFlushRecPtr(nullptr));
	}
	stream::SendStatus(&connection, last_received, flushed, flushed, reply_requested);
	last_feedback_at = now;
	last_reported_flush = flushed;

	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	if (flushed > my_slot->applied_lsn && !state->in_remote_xact && flush_tracker->AllDurable())
		my_slot->applied_lsn = flushed;
	my_slot->received_lsn = last_received;
	if (last_received > my_slot->peer_wal_end)
		my_slot->peer_wal_end = last_received;
	LWLockRelease(&shmem::state->lock);
}

/*
 * A clock message comes at its place in the peer's WAL, after every
 * transaction the peer committed before it was written: all of them are
 * here now.  (Not a keepalive's send time: a walsender working through a
 * backlog sends keepalives long before it reaches the transactions committed
 * before them, and tombstones pruned on that word would let those older
 * changes bring deleted rows back.)
 */
void NoteSafeTime(TimestampTz peer_clock) {
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	if (peer_clock > my_slot->safe_time)
		my_slot->safe_time = peer_clock;
	LWLockRelease(&shmem::state->lock);
}

void HandleMessage(const char *data, size_t len) {
	protocol::Reader r(data, len);
	protocol::MessageType type = r.GetMessageType();
	if (!r.ok())
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("malformed message from peer \"%s\": %s", state->peer_name, r.error())));
	switch (type) {
	case protocol::MessageType::kBegin:
		HandleBegin(r, my_slot);
		break;
	case protocol::MessageType::kCommit: {
		XLogRecPtr local_end = InvalidXLogRecPtr, remote_end = InvalidXLogRecPtr;
		HandleCommit(r, my_slot, &local_end, &remote_end);
		flush_tracker->Committed(local_end, remote_end);
		break;
	}
	case protocol::MessageType::kClock: {
		protocol::ClockMessage m;
		r.GetClock(&m);
		r.ExpectEnd();
		CheckReader(r, "CLOCK");
		if (state->in_remote_xact)
			ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
			                errmsg("peer \"%s\" sent a CLOCK message inside a transaction", state->peer_name)));
		NoteSafeTime(m.now);
		break;
	}
	case protocol::MessageType::kRelation: {
		protocol::RelationHeader h;
		r.GetRelationHeader(&h);
		CheckReader(r, "RELATION");
		/*
		 * The table changed mid-transaction (or is met again): rows gathered
		 * so far have the old shape, and the entry they point to is about to
		 * describe the new one.
		 */
		FlushBatch();
		StoreRelation(h, r);
		break;
	}
	case protocol::MessageType::kInsert:
	case protocol::MessageType::kUpdate:
	case protocol::MessageType::kDelete:
	case protocol::MessageType::kTruncate:
		HandleChange(type, r);
		break;
	}
}

void HandleFrame(const char *data, int len) {
	protocol::Frame frame;
	const char *error = nullptr;
	if (!protocol::ParseFrame(data, static_cast<size_t>(len), &frame, &error))
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("malformed replication frame from peer \"%s\": %s", state->peer_name, error)));
	last_heard_at = GetCurrentTimestamp();
	if (frame.wal_end > last_received)
		last_received = frame.wal_end;
	if (frame.type == protocol::FrameType::kKeepalive) {
		if (frame.reply_requested)
			SendFeedback(true, false);
		return;
	}
	if (frame.data_start > last_received)
		last_received = frame.data_start;
	protocol::PayloadReader payload(frame.payload, frame.payload_len);
	const char *message;
	size_t message_len;
	while (payload.Next(&message, &message_len)) {
		/* Each message works in fresh per-message memory (BEGIN may have switched contexts). */
		MemoryContext old = MemoryContextSwitchTo(state->message_context);
		HandleMessage(message, message_len);
		MemoryContextSwitchTo(old);
		MemoryContextReset(state->message_context);
	}
	if (!payload.ok())
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("malformed frame from peer \"%s\": %s at offset %zu", state->peer_name, payload.error(),
		                       payload.error_offset())));
}

void CheckPeerTimeout() {
	if (settings::peer_timeout_ms <= 0)
		return;
	TimestampTz now = GetCurrentTimestamp();
	if (TimestampDifferenceExceeds(last_heard_at, now, settings::peer_timeout_ms))
		ereport(ERROR, (errcode(ERRCODE_CONNECTION_FAILURE),
		                errmsg("peer \"%s\" sent nothing for %d ms; reconnecting", state->peer_name,
		                       settings::peer_timeout_ms)));
	/* Half-way through the silence, ask for a sign of life. */
	if (TimestampDifferenceExceeds(last_heard_at, now, settings::peer_timeout_ms / 2))
		SendFeedback(true, true);
}

void StreamLoop() {
	for (;;) {
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending) {
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (OperatorWantsUsGone())
			LeaveQuietly();

		/* Drain what has arrived, checking for requests now and then. */
		int handled = 0;
		for (;;) {
			const char *data;
			int len = stream::Receive(&connection, &data);
			if (len == 0)
				break;
			HandleFrame(data, len);
			if (++handled % 256 == 0) {
				CHECK_FOR_INTERRUPTS();
				if (OperatorWantsUsGone())
					LeaveQuietly();
				SendFeedback(false, false);
			}
		}
		SendFeedback(false, false);
		CheckPeerTimeout();

		long timeout = settings::feedback_interval_ms;
		int rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
		                           stream::Socket(&connection), timeout, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}

/*
 * An optimistic plain insert met an existing key: not a failure to show, just
 * a transaction to apply again at once with conflict checks.
 */
bool RecordCarefulRetry(const ErrorData *edata) {
	if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION || !state->in_remote_xact || state->careful ||
	    !state->optimistic_insert_done)
		return false;
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	my_slot->careful_lsn = state->remote_final_lsn;
	my_slot->retry_at = 0;
	LWLockRelease(&shmem::state->lock);
	return true;
}

/* Records a failure for concord.peers and schedules the retry. */
void RecordFailure(const ErrorData *edata) {
	if (my_slot == nullptr)
		return;
	if (RecordCarefulRetry(edata))
		return;
	char message[shmem::kErrorLength];
	const char *msg = edata->message != nullptr ? edata->message : "unknown error";
	if (edata->context != nullptr)
		snprintf(message, sizeof(message), "%s (while %s)", msg, edata->context);
	else
		strlcpy(message, msg, sizeof(message));
	/* Whatever happened, a peer's password never reaches the view or the log. */
	char scrubbed[shmem::kErrorLength];
	try {
		std::string text = conninfo::Scrub(message, conninfo::PasswordOf(state->peer_dsn != nullptr ? state->peer_dsn : ""));
		strlcpy(scrubbed, text.c_str(), sizeof(scrubbed));
	} catch (...) {
		strlcpy(scrubbed, "error text withheld", sizeof(scrubbed));
	}
	/* The C++ scope is closed: from here on plain PostgreSQL calls. */
	TimestampTz now = GetCurrentTimestamp();
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	strlcpy(my_slot->last_error, scrubbed, sizeof(my_slot->last_error));
	my_slot->last_error_at = now;
	my_slot->status = shmem::PeerStatus::kError;
	my_slot->failures++;
	my_slot->failing_lsn = state->in_remote_xact ? state->remote_final_lsn : InvalidXLogRecPtr;
	int64 delay_ms = BackoffDelayMs(my_slot->failures, settings::retry_delay_min_ms, settings::retry_delay_max_ms);
	my_slot->retry_at = now + delay_ms * 1000;
	LWLockRelease(&shmem::state->lock);
}

void Run() {
	InitRelationMap();
	LoadIdentity();
	pgstat_report_activity(STATE_RUNNING, "connecting to peer");

	/* Apply settings: replica role (ordinary triggers stay quiet), qualified names only. */
	SetConfigOption("session_replication_role", "replica", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* Each change must see the rows committed before it, whatever the server's default (direct_apply.cpp). */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	/* Floats the worker writes as text (a tombstone's counters) read back exactly. */
	SetConfigOption("extra_float_digits", "1", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * Every applied statement finds its row by key.  On a small, much-updated
	 * table (pgbench_branches) the planner's generic plan scans the whole page,
	 * dead versions and all, for each change; the key's index goes straight to
	 * the row, as PostgreSQL's own apply always does.
	 */
	SetConfigOption("enable_seqscan", "off", PGC_SUSET, PGC_S_OVERRIDE);

	StartTransactionCommand();
	replorigin_session_setup(state->origin);
	replorigin_session_origin = state->origin;
	/*
	 * The origin's progress counts the asynchronous commits of the worker
	 * before us, which may still sit in WAL buffers.  Everything we report
	 * from here on is taken as safe to forget by the peer, so flush our WAL
	 * up to the origin's last local commit first (what `true` asks for);
	 * otherwise a crash now would lose a transaction the peer never resends.
	 */
	XLogRecPtr start = replorigin_session_get_progress(true);
	CommitTransactionCommand();
	shmem::AttachWriterWindow(static_cast<int>(my_slot - shmem::state->peers), MyDatabaseId, state->origin);

	char appname[NAMEDATALEN];
	snprintf(appname, sizeof(appname), "concord_%s", state->node_name);
	stream::Start(&connection, state->peer_dsn, state->peer_name, appname, state->link_name, start);
	last_heard_at = GetCurrentTimestamp();
	last_received = start;
	flush_tracker->AdvanceIdle(start);

	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	my_slot->status = shmem::PeerStatus::kStreaming;
	if (start > my_slot->applied_lsn)
		my_slot->applied_lsn = start;
	LWLockRelease(&shmem::state->lock);
	char activity[NAMEDATALEN + 64];
	snprintf(activity, sizeof(activity), "applying changes from peer %s", state->peer_name);
	pgstat_report_activity(STATE_RUNNING, activity);
	StreamLoop();
}

} // namespace

} // namespace concord::apply

void concord_apply_main(Datum arg) {
	using namespace concord;
	using namespace concord::apply;
	Oid dboid;
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(dboid));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	MemoryContext worker_context = AllocSetContextCreate(TopMemoryContext, "concord apply", ALLOCSET_DEFAULT_SIZES);
	state = static_cast<ApplyState *>(MemoryContextAllocZero(worker_context, sizeof(ApplyState)));
	state->sub_id = DatumGetObjectId(arg);
	state->cache_context = AllocSetContextCreate(worker_context, "concord apply cache", ALLOCSET_DEFAULT_SIZES);
	state->message_context = AllocSetContextCreate(worker_context, "concord apply message", ALLOCSET_DEFAULT_SIZES);
	flush_tracker = static_cast<FlushTracker *>(MemoryContextAllocZero(worker_context, sizeof(FlushTracker)));
	new (flush_tracker) FlushTracker();
	AttachSlot(dboid);
	InstallErrorContext();

	PG_TRY();
	{
		pg::Entry([] { Run(); });
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(worker_context);
		ErrorData *edata = CopyErrorData();
		RecordFailure(edata);
		if (my_slot != nullptr && my_slot->careful_lsn == state->remote_final_lsn && state->in_remote_xact &&
		    !state->careful) {
			/* Expected: exit quietly, the manager restarts us right away in careful mode. */
			ereport(LOG, (errmsg("concord: retrying the transaction from peer \"%s\" ending at %X/%X with "
			                     "conflict checks: a key it inserts exists here",
			                     state->peer_name, CONCORD_LSN_ARGS(state->remote_final_lsn))));
			proc_exit(1);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	proc_exit(0);
}
