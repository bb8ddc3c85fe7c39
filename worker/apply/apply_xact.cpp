/*
 * apply_xact.cpp — BEGIN/COMMIT handling, change dispatch, error context.
 */
#include "extension/bridge/pg_compat.hpp"
#include "worker/apply/apply_xact.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "extension/shmem/writer_window.hpp"
#include "worker/apply/apply_change.hpp"
#include "worker/apply/apply_state.hpp"
#include "worker/apply/insert_batch.hpp"
#include "worker/apply/skip.hpp"
#include "worker/apply/spi_session.hpp"
#include "worker/apply/tuple_values.hpp"

namespace concord::apply {

namespace {

ErrorContextCallback error_context;

void ApplyErrorContext(void *) {
	if (state == nullptr || state->peer_name == nullptr)
		return;
	if (state->in_remote_xact && state->current_action != nullptr)
		errcontext("applying %s on \"%s\" from peer \"%s\" in the transaction ending at %X/%X", state->current_action,
		           state->current_relation != nullptr ? state->current_relation : "?", state->peer_name,
		           CONCORD_LSN_ARGS(state->remote_final_lsn));
	else if (state->in_remote_xact)
		errcontext("applying the transaction ending at %X/%X from peer \"%s\"",
		           CONCORD_LSN_ARGS(state->remote_final_lsn), state->peer_name);
	else
		errcontext("replicating from peer \"%s\"", state->peer_name);
}

void RequireRemoteXact(const char *what) {
	if (!state->in_remote_xact)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("peer \"%s\" sent %s outside a transaction", state->peer_name, what)));
}

} // namespace

void InstallErrorContext() {
	error_context.callback = ApplyErrorContext;
	error_context.arg = nullptr;
	error_context.previous = error_context_stack;
	error_context_stack = &error_context;
}

void HandleBegin(protocol::Reader &r, shmem::PeerSlot *slot) {
	protocol::BeginMessage m;
	r.GetBegin(&m);
	r.ExpectEnd();
	CheckReader(r, "BEGIN");
	if (state->in_remote_xact)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("peer \"%s\" began a transaction inside another", state->peer_name)));
	state->remote_final_lsn = m.final_lsn;
	state->remote_commit_time = m.commit_time;
	state->changes_in_xact = 0;
	state->current_action = nullptr;
	state->current_relation = nullptr;

	LWLockAcquire(&shmem::state->lock, LW_SHARED);
	state->skipping = slot->skip_requested && slot->skip_lsn == m.final_lsn;
	state->careful = slot->careful_lsn == m.final_lsn;
	state->optimistic_insert_done = false;
	LWLockRelease(&shmem::state->lock);

	shmem::AdvanceWriterWindow();
	StartTransactionCommand();
	/*
	 * One snapshot for the whole transaction, for input functions and the
	 * like; every SPI statement still takes its own fresh one.
	 */
	PushActiveSnapshot(GetTransactionSnapshot());
	state->in_remote_xact = true;
}

void HandleChange(protocol::MessageType type, protocol::Reader &r) {
	RequireRemoteXact("a change");
	state->changes_in_xact++;
	if (state->skipping)
		return;
	/* Only inserts join a batch; anything else applies what was gathered first. */
	if (type != protocol::MessageType::kInsert)
		FlushBatch();
	switch (type) {
	case protocol::MessageType::kInsert:
		ApplyInsert(r);
		break;
	case protocol::MessageType::kUpdate:
		ApplyUpdate(r);
		break;
	case protocol::MessageType::kDelete:
		ApplyDelete(r);
		break;
	case protocol::MessageType::kTruncate:
		ApplyTruncate(r);
		break;
	default:
		break;
	}
	state->current_action = nullptr;
	state->current_relation = nullptr;
}

void HandleCommit(protocol::Reader &r, shmem::PeerSlot *slot, XLogRecPtr *local_end, XLogRecPtr *remote_end) {
	protocol::CommitMessage m;
	r.GetCommit(&m);
	r.ExpectEnd();
	CheckReader(r, "COMMIT");
	RequireRemoteXact("COMMIT");

	if (state->skipping)
		RecordSkippedTransaction(m.end_lsn);
	FlushBatch();
	FinishSpi();
	PopActiveSnapshot();
	replorigin_session_origin_lsn = m.end_lsn;
	replorigin_session_origin_timestamp = m.commit_time;
	shmem::RememberCommittingXids();
	CommitTransactionCommand();
	shmem::RecordRememberedXids();
	state->in_remote_xact = false;
	*local_end = XactLastCommitEnd;
	*remote_end = m.end_lsn;

	TimestampTz now = GetCurrentTimestamp();
	LWLockAcquire(&shmem::state->lock, LW_EXCLUSIVE);
	slot->applied_lsn = m.end_lsn;
	slot->last_applied_at = now;
	if (m.commit_time > slot->safe_time)
		slot->safe_time = m.commit_time;
	slot->status = shmem::PeerStatus::kStreaming;
	/* An apply succeeded: the last error is history. */
	slot->last_error[0] = '\0';
	slot->last_error_at = 0;
	slot->failures = 0;
	slot->failing_lsn = InvalidXLogRecPtr;
	slot->careful_lsn = InvalidXLogRecPtr;
	if (state->skipping) {
		slot->skip_requested = false;
		slot->skip_lsn = InvalidXLogRecPtr;
	}
	LWLockRelease(&shmem::state->lock);
	state->skipping = false;
}

void AbandonRemoteTransaction() {
	DiscardBatch();
	if (state->in_remote_xact) {
		AbortCurrentTransaction();
		ForgetSpi();
		state->in_remote_xact = false;
		state->skipping = false;
	}
}

} // namespace concord::apply
