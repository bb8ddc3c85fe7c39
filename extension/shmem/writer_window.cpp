/*
 * writer_window.cpp — shared memory and the apply worker's side of the
 * per-peer windows of committed transactions (see writer_window.hpp).
 */
#include "extension/shmem/writer_window.hpp"

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
}

#include "common/apply/xid_window.hpp"
#include "extension/shmem/shared_state.hpp"
#include "extension/settings.hpp"

namespace concord::shmem {

namespace {

struct WriterWindow {
	Oid dboid;           /* owner: the database and replication origin it was kept for */
	RepOriginId origin;
	apply::XidWindowState xids;
};

WriterWindow *windows = nullptr;  /* settings::max_peers of them */
WriterWindow *attached = nullptr; /* this process's, if it is an apply worker */

/* The xids of the transaction being committed (top-level first); palloc'd in TopMemoryContext. */
uint64 *remembered = nullptr;
int remembered_count = 0;
int remembered_capacity = 0;

uint64 NextFullXid() { return U64FromFullTransactionId(ReadNextFullTransactionId()); }

} // namespace

Size WriterWindowsSize() { return mul_size(sizeof(WriterWindow), settings::max_peers); }

void StartupWriterWindows() {
	bool found = false;
	windows = static_cast<WriterWindow *>(ShmemInitStruct("concord writer windows", WriterWindowsSize(), &found));
	/* Owned by no one: the first worker to attach resets its window (AttachWriterWindow). */
	if (!found) {
		for (int i = 0; i < settings::max_peers; i++) {
			windows[i].dboid = InvalidOid;
			windows[i].origin = InvalidRepOriginId;
		}
	}
}

void AttachWriterWindow(int slot_index, Oid dboid, RepOriginId origin) {
	Assert(slot_index >= 0 && slot_index < state->max_peers);
	WriterWindow *w = &windows[slot_index];
	if (w->dboid != dboid || w->origin != origin) {
		apply::XidWindow(&w->xids).Reset(NextFullXid());
		w->dboid = dboid;
		w->origin = origin;
	}
	attached = w;
	AdvanceWriterWindow();
}

void AdvanceWriterWindow() {
	if (attached != nullptr)
		apply::XidWindow(&attached->xids).Advance(NextFullXid() - 1);
}

void RememberCommittingXids() {
	remembered_count = 0;
	FullTransactionId top = GetTopFullTransactionIdIfAny();
	if (attached == nullptr || !FullTransactionIdIsValid(top))
		return;
	TransactionId *children = nullptr;
	int nchildren = xactGetCommittedChildren(&children);
	if (nchildren + 1 > remembered_capacity) {
		int capacity = Max(nchildren + 1, 2 * remembered_capacity);
		remembered = static_cast<uint64 *>(remembered == nullptr
		                                       ? MemoryContextAlloc(TopMemoryContext, sizeof(uint64) * capacity)
		                                       : repalloc(remembered, sizeof(uint64) * capacity));
		remembered_capacity = capacity;
	}
	uint64 top_full = U64FromFullTransactionId(top);
	remembered[remembered_count++] = top_full;
	for (int i = 0; i < nchildren; i++)
		remembered[remembered_count++] = apply::XidWindow::WidenChild(top_full, children[i]);
}

void RecordRememberedXids() {
	if (attached != nullptr) {
		apply::XidWindow window(&attached->xids);
		for (int i = 0; i < remembered_count; i++)
			window.Record(remembered[i]);
	}
	remembered_count = 0;
}

bool KnownWrittenThrough(TransactionId xid, RepOriginId origin) {
	return attached != nullptr && attached->origin == origin && apply::XidWindow(&attached->xids).Contains(xid);
}

} // namespace concord::shmem
